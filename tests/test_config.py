"""config.toml: a bad file is one clear line and exit status 2; a good one means what it says."""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest

from newswatch import cli
from newswatch import config as cfg

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


@pytest.mark.parametrize("command", ["sources", "crawl"])
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
        config = cfg.load(path)

    assert config.source("ithome").interval == seconds
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
    path = write_config('[telegram]\ntoken = "from-file"\n' + SOURCE)

    monkeypatch.delenv(cfg.TOKEN_ENV, raising=False)
    assert cfg.load(path).telegram.token == "from-file"
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
