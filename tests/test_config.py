"""config.toml: a bad file is one clear line and exit status 2; a good one means what it says."""

from __future__ import annotations

import shutil
import subprocess
import warnings
from pathlib import Path

import pytest

from newswatch import cli
from newswatch import config as cfg
from newswatch.storage import connect

SOURCE = """
[[sources]]
name = "ithome"
kind = "ithome"
url = "https://www.ithome.com/rss/"
"""


@pytest.mark.parametrize(
    ("body", "key", "problem"),
    [
        ("[[sources]\nname = 'x'\n", "TOML syntax error", "line 1"),
        (
            SOURCE.replace('kind = "ithome"', 'kind = "atom"'),
            "sources[0] (ithome).kind",
            "unknown kind 'atom'",
        ),
        (SOURCE + 'interval = "5 minutes"\n', "sources[0] (ithome).interval", "positive duration"),
        (SOURCE + "interval = 0\n", "sources[0] (ithome).interval", "positive duration"),
        (SOURCE + "interval = -30\n", "sources[0] (ithome).interval", "positive duration"),
        (SOURCE + "interval = nan\n", "sources[0] (ithome).interval", "positive duration"),
        (SOURCE + "interval = inf\n", "sources[0] (ithome).interval", "positive duration"),
        (
            SOURCE.replace("https://www.ithome.com/rss/", "ftp://www.ithome.com/rss/"),
            "sources[0] (ithome).url",
            "absolute http(s) URL",
        ),
        (
            SOURCE.replace("https://www.ithome.com/rss/", "www.ithome.com/rss/"),
            "sources[0] (ithome).url",
            "absolute http(s) URL",
        ),
        (
            SOURCE.replace("https://www.ithome.com/rss/", "https://www.it home.com/"),
            "sources[0] (ithome).url",
            "absolute http(s) URL",
        ),
        (SOURCE + SOURCE, "sources[1] (ithome).name", "duplicate source name"),
        (SOURCE.replace('name = "ithome"', 'name = "IT Home"'), "sources[0] (IT Home).name", "[a-z0-9_-]+"),
        (SOURCE + "intervall = 60\n", "sources[0].intervall", "unknown key"),
        (SOURCE.replace('kind = "ithome"\n', ""), "sources[0].kind", "is required"),
        ("[crawl]\ntimeout_s = 5\n" + SOURCE, "crawl.timeout_s", "unknown key"),
        ("[crawl]\nretries = 1.5\n" + SOURCE, "crawl.retries", "must be an integer"),
        ('[crawl]\ntimeout = "soon"\n' + SOURCE, "crawl.timeout", "positive duration"),
        ("[strage]\n" + SOURCE, "strage", "unknown section"),
        ('[storage]\nurl = "data/newswatch.db"\n' + SOURCE, "storage.url", "SQLAlchemy URL"),
        ('[storage]\nurl = "mongodb://localhost/news"\n' + SOURCE, "storage.url", "SQLAlchemy can open"),
        # upper bounds: values that used to crash the scheduler or spin
        (SOURCE + "interval = 1e308\n", "sources[0] (ithome).interval", "from 1s to 7d"),
        (SOURCE + "interval = 0.001\n", "sources[0] (ithome).interval", "from 1s to 7d"),
        ("[alerts]\nmax_age = 1e308\n" + SOURCE, "alerts.max_age", "from 1m to 365d"),
        ("[alerts]\ndelivery_interval = 0.0001\n" + SOURCE, "alerts.delivery_interval", "from 0.5s to 1h"),
        ('[crawl]\ntimeout = "30d"\n' + SOURCE, "crawl.timeout", "from 1s to 10m"),
        ("[crawl]\nmax_parallel_crawls = 1000000\n" + SOURCE, "crawl.max_parallel_crawls", "from 1 to 32"),
        ("[crawl]\nretries = 1000000000\n" + SOURCE, "crawl.retries", "from 0 to 10"),
        ("[crawl]\nretries = 1e9\n" + SOURCE, "crawl.retries", "must be an integer"),
        ("[crawl]\nmax_bytes = 99999999999\n" + SOURCE, "crawl.max_bytes", "from 1 to 1000000000"),
        ('[crawl]\nmax_memory = "1000GB"\n' + SOURCE, "crawl.max_memory", "at most 64GB"),
        ('[crawl]\nuser_agent = "bot\\r\\nX-Evil: 1"\n' + SOURCE, "crawl.user_agent", "one line"),
        # URLs Python's own parser refuses
        (
            SOURCE.replace("https://www.ithome.com/rss/", "https://www.ithome.com:99999/rss/"),
            "sources[0] (ithome).url",
            "port out of range",
        ),
        (
            SOURCE.replace("https://www.ithome.com/rss/", "http://[::1/x"),
            "sources[0] (ithome).url",
            "absolute http(s) URL",
        ),
        (
            '[telegram]\napi_base_url = "http://127.0.0.1:99999/bot"\n' + SOURCE,
            "telegram.api_base_url",
            "port out of range",
        ),
        ('[telegram]\napi_base_url = "http://[::1/x"\n' + SOURCE, "telegram.api_base_url", "http(s) URL"),
        # a base URL without /bot (or without http://) put the token's secret half in every log line
        (
            '[telegram]\napi_base_url = "https://api.telegram.org"\n' + SOURCE,
            "telegram.api_base_url",
            'ending in /bot, like "https://api.telegram.org/bot"',
        ),
        ('[telegram]\napi_base_url = "127.0.0.1:8081/bot"\n' + SOURCE, "telegram.api_base_url", "http(s)"),
        ('[telegram]\ntoken = "not a token"\n' + SOURCE, "telegram.token", "digits, a colon"),
        (
            SOURCE.replace('name = "ithome"', 'name = "ithome\\n"'),
            "sources[0] ('ithome\\n').name",
            "[a-z0-9_-]+",
        ),
        (SOURCE.replace('name = "ithome"', f'name = "{"x" * 65}"'), ".name", "at most 64 characters"),
        # keywords the matcher refuses: one line now, not a traceback from `run`
        ('[watch]\nkeywords = ["<b>"]\n' + SOURCE, "watch.keywords[0]", "at least 2 letters or digits"),
        ('[watch]\nkeywords = ["ok", "!!!"]\n' + SOURCE, "watch.keywords[1]", "at least 2 letters or digits"),
        ('[watch]\nexclude = ["\\u200b"]\n' + SOURCE, "watch.exclude[0]", "at least 2 letters or digits"),
        ('[web]\nlisten = "8080"\n' + SOURCE, "web.listen", '"HOST:PORT"'),
        ('[web]\nlisten = "127.0.0.1:99999"\n' + SOURCE, "web.listen", '"HOST:PORT"'),
        ('[web]\nlisten = "http://127.0.0.1:8080/"\n' + SOURCE, "web.listen", '"HOST:PORT"'),
        ("[web]\nlisten = 8080\n" + SOURCE, "web.listen", "must be a string"),
        ('[web]\nport = "8080"\n' + SOURCE, "web.port", "unknown key"),
    ],
)
def test_a_bad_config_is_one_line_naming_file_key_and_problem(write_config, capsys, body, key, problem):
    path = write_config(body, name="bad.toml")

    status = cli.main(["--config", str(path), "sources"])

    out, err = capsys.readouterr()
    assert status == 2
    assert out == ""
    assert len(err.splitlines()) == 1, err
    assert err.startswith(f"error: {path}: ")
    assert key in err and problem in err


@pytest.mark.parametrize("command", ["sources", "crawl", "run"])
def test_the_command_prints_no_traceback_for_a_bad_config(write_config, newswatch, command):
    path = write_config(SOURCE.replace('kind = "ithome"', 'kind = "atom"'), name="bad.toml")

    result = newswatch("--config", path, command, *(["--all"] if command == "crawl" else []))

    assert result.returncode == 2
    assert result.stdout == ""
    assert (
        result.stderr
        == f"error: {path}: sources[0] (ithome).kind: unknown kind 'atom' (allowed: ithome, rss)\n"
    )


def test_a_missing_config_file_is_one_line(tmp_path, capsys):
    status = cli.main(["--config", str(tmp_path / "nope.toml"), "sources"])

    assert status == 2
    assert capsys.readouterr().err == (
        f"error: {tmp_path / 'nope.toml'}: file not found (use --config PATH or set NEWSWATCH_CONFIG)\n"
    )


def test_an_unreachable_store_is_one_line_without_the_password(write_config, capsys):
    path = write_config('[storage]\nurl = "postgresql+psycopg://nw:secret@127.0.0.1:1/news"\n' + SOURCE)

    status = cli.main(["--config", str(path), "sources"])

    err = capsys.readouterr().err
    assert status == 2
    assert len(err.splitlines()) == 1
    assert err.startswith(f"error: {path}: storage.url: cannot open postgresql+psycopg://nw:***@")
    assert "secret" not in err


def test_short_intervals_warn_but_work(write_config, newswatch):
    path = write_config('[storage]\nurl = "sqlite:///store.db"\n' + SOURCE + "interval = 5\n")

    result = newswatch("--config", path, "sources")

    assert result.returncode == 0
    assert result.stderr.strip() == (
        f"warning: {path}: sources[0] (ithome).interval: 5 s is below 60 s; "
        "fine for tests, impolite to real sites"
    )
    assert "ithome" in result.stdout and "5s" in result.stdout


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        ('"90s"', 90),
        ('"5m"', 300),
        ('"1h"', 3600),
        ("120", 120),
        ("2.5", 2.5),
        ('"1.5h"', 5400),
        ('" 10s "', 10),
    ],
)
def test_durations_take_seconds_or_units(write_config, value, seconds):
    path = write_config(SOURCE + f"interval = {value}\n[crawl]\ntimeout = {value}\n")

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        config = cfg.load(path) if seconds <= 600 else None
        interval_only = cfg.load(write_config(SOURCE + f"interval = {value}\n", name="interval.toml"))

    assert interval_only.source("ithome").interval == seconds
    if config is not None:  # crawl.timeout stops at 10 minutes
        assert config.crawl.timeout == seconds


def test_the_config_path_comes_from_newswatch_config_when_not_given(write_config, newswatch, tmp_path):
    path = write_config(
        '[storage]\nurl = "sqlite:///store.db"\n' + SOURCE.replace('ithome"\nkind', 'it-env"\nkind')
    )

    result = newswatch("sources", env={"NEWSWATCH_CONFIG": str(path)}, cwd=tmp_path)

    assert result.returncode == 0, result.stderr
    assert "it-env" in result.stdout


def test_an_explicit_config_beats_the_environment(write_config, newswatch, tmp_path):
    chosen = write_config('[storage]\nurl = "sqlite:///store.db"\n' + SOURCE)

    result = newswatch(
        "--config", chosen, "sources", env={"NEWSWATCH_CONFIG": str(tmp_path / "missing.toml")}
    )

    assert result.returncode == 0, result.stderr


def test_the_telegram_token_comes_from_the_environment_first(write_config, monkeypatch):
    path = write_config('[telegram]\ntoken = "111:from-file"\n' + SOURCE)
    path.chmod(0o600)

    monkeypatch.delenv(cfg.TOKEN_ENV, raising=False)
    assert cfg.load(path).telegram.token == "111:from-file"
    monkeypatch.setenv(cfg.TOKEN_ENV, " 123:from-env ")
    assert cfg.load(path).telegram.token == "123:from-env"


def test_a_relative_sqlite_path_is_relative_to_the_config_file(write_config, tmp_path, monkeypatch):
    path = write_config('[storage]\nurl = "sqlite:///data/news.db"\n' + SOURCE)
    monkeypatch.chdir(Path("/"))

    assert cfg.load(path).storage_url == f"sqlite:///{tmp_path.resolve()}/data/news.db"


@pytest.mark.parametrize(
    "url",
    ["sqlite:////srv/news.db", "sqlite:///:memory:", "postgresql+psycopg://postgres@127.0.0.1:5432/test"],
)
def test_absolute_and_server_store_urls_are_kept(write_config, url):
    path = write_config(f'[storage]\nurl = "{url}"\n' + SOURCE)

    assert cfg.load(path).storage_url == url


def test_defaults_fill_what_the_file_leaves_out(write_config):
    config = cfg.load(write_config(SOURCE))
    source = config.source("ithome")

    assert (source.interval, source.enabled, source.lang) == (300.0, True, None)
    assert config.storage_url.endswith("/data/newswatch.db")
    assert config.crawl.timeout > 0 and config.crawl.max_bytes > 0
    assert config.web.address == ("127.0.0.1", 8080)  # on, on loopback only


@pytest.mark.parametrize(
    ("listen", "address"),
    [
        ("", None),
        ("0.0.0.0:80", ("0.0.0.0", 80)),
        ("[::1]:8080", ("::1", 8080)),
        ("localhost:9", ("localhost", 9)),
    ],
)
def test_web_listen_is_host_and_port_or_off(write_config, listen, address):
    assert cfg.load(write_config(f'[web]\nlisten = "{listen}"\n' + SOURCE)).web.address == address


def test_the_shipped_config_is_valid(monkeypatch):
    monkeypatch.delenv(cfg.TOKEN_ENV, raising=False)
    config = cfg.load(Path(__file__).resolve().parent.parent / "config.toml")

    assert [s.name for s in config.sources if s.kind == "ithome"] == ["ithome"]
    assert all(s.interval >= cfg.MIN_POLITE_INTERVAL for s in config.sources)


def test_a_config_holding_a_token_warns_when_every_user_can_read_it(write_config, monkeypatch):
    monkeypatch.delenv(cfg.TOKEN_ENV, raising=False)
    path = write_config('[telegram]\ntoken = "123:secret"\n' + SOURCE)

    path.chmod(0o644)
    with pytest.warns(UserWarning, match="telegram.token: every user of this machine can read"):
        cfg.load(path)

    path.chmod(0o600)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        cfg.load(path)  # no warning
        path.chmod(0o644)
        cfg.load(write_config(SOURCE, name="no-token.toml"))  # nothing secret in it


def test_run_refuses_a_keyword_without_letters_in_one_line(write_config, newswatch):
    path = write_config('[storage]\nurl = "sqlite:///store.db"\n[watch]\nkeywords = ["<b>"]\n' + SOURCE)

    result = newswatch("--config", path, "run", timeout=60)

    assert result.returncode == 2
    assert result.stderr == (
        f"error: {path}: watch.keywords[0]: a keyword needs at least 2 letters or digits (got '<b>')\n"
    )


def _immutable(path: Path) -> None:
    """chattr +i: not even root may write the file (ext4, xfs, btrfs); skipped where unsupported."""
    if shutil.which("chattr") is None:
        pytest.skip("chattr is not installed")
    done = subprocess.run(["chattr", "+i", str(path)], capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"cannot make a file immutable here: {done.stderr.strip()}")


@pytest.mark.parametrize("problem", ["corrupt", "read-only", "unreachable"])
def test_run_with_a_store_it_cannot_open_or_write_is_one_line(write_config, newswatch, tmp_path, problem):
    store = tmp_path / "store.db"
    url = f"sqlite:///{store}"
    if problem == "corrupt":
        store.write_bytes(b"this is not SQLite\n" * 300)
    elif problem == "read-only":
        connect(url).dispose()  # a good store, then made read-only
        _immutable(store)
    else:
        url = "postgresql+psycopg://nw:secret@127.0.0.1:1/news"
    path = write_config(f'[storage]\nurl = "{url}"\n' + SOURCE)
    try:
        result = newswatch("--config", path, "run", timeout=60)
    finally:
        subprocess.run(["chattr", "-i", str(store)], capture_output=True, check=False)

    reason = {
        "corrupt": "file is not a database",
        "read-only": "attempt to write a readonly database",
        "unreachable": "connection",
    }[problem]
    assert result.returncode == 2
    assert result.stdout == ""
    assert len(result.stderr.splitlines()) == 1, result.stderr
    assert result.stderr.startswith(f"error: {path}: storage.url: cannot open ")
    assert reason in result.stderr.lower() and "secret" not in result.stderr


def test_the_storage_url_comes_from_the_environment_first(write_config, monkeypatch, tmp_path):
    """What a container sets: one image, its store in /data or on a PostgreSQL server."""
    path = write_config('[storage]\nurl = "sqlite:///from-file.db"\n' + SOURCE)

    monkeypatch.setenv("NEWSWATCH_STORAGE_URL", " sqlite:////data/newswatch.db ")
    assert cfg.load(path).storage_url == "sqlite:////data/newswatch.db"
    monkeypatch.setenv("NEWSWATCH_STORAGE_URL", "")
    assert cfg.load(path).storage_url == f"sqlite:///{tmp_path.resolve()}/from-file.db"


def test_a_bad_storage_url_from_the_environment_names_the_variable(write_config, monkeypatch):
    path = write_config(SOURCE)
    monkeypatch.setenv("NEWSWATCH_STORAGE_URL", "newswatch.db")

    with pytest.raises(cfg.ConfigError) as refused:
        cfg.load(path)

    assert str(refused.value).startswith(f"{path}: storage.url (from $NEWSWATCH_STORAGE_URL): must be")


@pytest.mark.parametrize(
    "url",
    [
        "javascript:alert(1)",
        "file:///etc/passwd",
        "http://",
        "http://[::1",
        "https://a.example:99999/feed",
        "https://a.example/\x00feed",
    ],
)
def test_only_absolute_http_urls_are_source_urls(url):
    assert not cfg.is_http_url(url)
    assert cfg.is_http_url("https://a.example/feed?x=1&y=2")


def test_ithome_urls_default_to_the_ithome_kind():
    assert cfg.default_kind("https://www.ithome.com/rss/") == "ithome"
    assert cfg.default_kind("https://WWW.ITHOME.COM/list/") == "ithome"
    assert cfg.default_kind("https://www.ithome.com.tw/rss") == "rss"  # iThome Taiwan is another outlet
    assert cfg.default_kind("https://technode.com/feed/") == "rss"
