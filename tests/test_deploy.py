"""deploy/: the Dockerfile, compose.yaml and .dockerignore, checked as far as this machine allows.

No Docker engine runs here and base images cannot be pulled, so the image is never built in the
suite. What can be checked is: the Dockerfile's structure (stages, user, volume, health check, no
secret in it), its health check command run for real against a local server, the compose file through
``docker compose config`` when the compose plugin is installed and through PyYAML always."""

from __future__ import annotations

import http.server
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from newswatch import config as cfg

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "deploy"
SECRET_NAME = re.compile(r"TOKEN|SECRET|PASSWORD|PASSWD|API_HASH|API_KEY|PRIVATE", re.I)
BOT_TOKEN = re.compile(r"\b\d{6,}:[A-Za-z0-9_-]{30,}\b")


def instructions(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) of a Dockerfile: comments dropped, continuation lines joined."""
    result, current = [], ""
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.endswith("\\"):
            current += line[:-1] + " "
            continue
        word, _, rest = (current + line).partition(" ")
        result.append((word.upper(), " ".join(rest.split())))
        current = ""
    return result


@pytest.fixture(scope="module")
def dockerfile() -> list[tuple[str, str]]:
    return instructions((DEPLOY / "Dockerfile").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def final_stage(dockerfile) -> list[tuple[str, str]]:
    last_from = max(i for i, (word, _) in enumerate(dockerfile) if word == "FROM")
    return dockerfile[last_from:]


def args(stage: list[tuple[str, str]], word: str) -> list[str]:
    return [rest for w, rest in stage if w == word]


def env(stage: list[tuple[str, str]]) -> dict[str, str]:
    pairs = [shlex.split(rest) for rest in args(stage, "ENV")]
    return dict(item.split("=", 1) for items in pairs for item in items)


# --- Dockerfile --------------------------------------------------------------------------------------


def test_the_image_builds_wheels_in_one_stage_and_installs_them_in_a_slim_python_one(dockerfile, final_stage):
    bases = args(dockerfile, "FROM")

    assert len(bases) == 2
    assert all(re.fullmatch(r"python:3\.11-slim(-\w+)?( AS \w+)?", base) for base in bases), bases
    assert bases[0].endswith(" AS builder")
    assert any("pip wheel" in run for run in args(dockerfile[: dockerfile.index(final_stage[0])], "RUN"))
    install = next(run for run in args(final_stage, "RUN") if "pip install" in run)
    assert "from=builder" in install and "--no-index" in install and "python -m venv" in install


def test_it_runs_as_a_fixed_unprivileged_user(final_stage):
    users = args(final_stage, "USER")
    uid = users[-1].split(":")[0]

    assert uid.isdigit() and int(uid) >= 1000
    assert any(f"--uid {uid}" in run for run in args(final_stage, "RUN"))
    words = [word for word, _ in final_stage]
    assert words.index("USER") < words.index("ENTRYPOINT")


def test_the_store_is_in_the_data_volume(final_stage, monkeypatch):
    variables = env(final_stage)

    assert args(final_stage, "VOLUME") == ["/data"]
    assert variables["NEWSWATCH_STORAGE_URL"] == "sqlite:////data/newswatch.db"
    assert f"config.toml {variables['NEWSWATCH_CONFIG']}" in args(final_stage, "COPY")
    monkeypatch.setenv("NEWSWATCH_STORAGE_URL", variables["NEWSWATCH_STORAGE_URL"])
    monkeypatch.delenv(cfg.TOKEN_ENV, raising=False)
    assert cfg.load(ROOT / "config.toml").storage_url == "sqlite:////data/newswatch.db"


def test_it_starts_the_service_and_listens_where_the_health_check_asks(final_stage):
    health = args(final_stage, "HEALTHCHECK")[0]

    assert json.loads(args(final_stage, "ENTRYPOINT")[0]) == ["newswatch"]
    assert json.loads(args(final_stage, "CMD")[0]) == ["run"]
    assert args(final_stage, "EXPOSE") == ["8080"]
    assert env(final_stage)["NEWSWATCH_WEB_LISTEN"] == "0.0.0.0:8080"
    assert "http://127.0.0.1:8080/healthz" in health
    assert json.loads(health.partition(" CMD ")[2])[0] == "python"  # no curl in slim images


class _Health(http.server.BaseHTTPRequestHandler):
    status = 200

    def do_GET(self) -> None:
        self.send_response(self.status if self.path == "/healthz" else 404)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def health_server() -> Iterator[http.server.HTTPServer]:
    server = http.server.HTTPServer(("127.0.0.1", 0), _Health)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def run_health_check(final_stage: list[tuple[str, str]], port: int) -> subprocess.CompletedProcess[bytes]:
    """The image's HEALTHCHECK command, with this interpreter, asking ``port`` instead of 8080."""
    command = json.loads(args(final_stage, "HEALTHCHECK")[0].partition(" CMD ")[2])
    probe = [sys.executable, *(part.replace("127.0.0.1:8080", f"127.0.0.1:{port}") for part in command[1:])]
    return subprocess.run(probe, capture_output=True, timeout=30)


@pytest.mark.parametrize(("status", "healthy"), [(200, True), (503, False)])
def test_the_health_check_command_passes_on_200_and_fails_on_503(final_stage, health_server, status, healthy):
    _Health.status = status

    result = run_health_check(final_stage, health_server.server_address[1])

    assert (result.returncode == 0) is healthy, result.stderr


def test_the_health_check_fails_when_nothing_listens(final_stage, health_server):
    port = health_server.server_address[1]
    health_server.shutdown()
    health_server.server_close()

    assert run_health_check(final_stage, port).returncode != 0


def test_no_secret_is_baked_into_the_image(dockerfile):
    text = (DEPLOY / "Dockerfile").read_text(encoding="utf-8")

    for word, rest in dockerfile:
        if word in ("ENV", "ARG"):
            names = [item.split("=", 1)[0] for item in shlex.split(rest)]
            assert not [n for n in names if SECRET_NAME.search(n)], rest
        if word in ("COPY", "ADD"):
            assert ".env" not in rest.split()
    assert not BOT_TOKEN.search(text)


def test_everything_the_image_copies_is_in_the_build_context(dockerfile):
    ignored = [line.strip() for line in (ROOT / ".dockerignore").read_text().splitlines()]
    copied = [rest.split()[:-1] for word, rest in dockerfile if word == "COPY" and "--from" not in rest]

    for source in (s for sources in copied for s in sources):
        assert (ROOT / source).exists(), source
        assert source not in ignored
    for kept_out in (".git", ".venv", "data", "tests/output", ".env"):
        assert kept_out in ignored


# --- compose.yaml ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load((DEPLOY / "compose.yaml").read_text(encoding="utf-8"))


def _compose_plugin() -> bool:
    if shutil.which("docker") is None:
        return False
    probe = subprocess.run(["docker", "compose", "version"], capture_output=True, timeout=30)
    return probe.returncode == 0


@pytest.mark.skipif(not _compose_plugin(), reason="`docker compose` (the compose plugin) is not installed")
def test_docker_compose_accepts_the_file():
    environment = {**os.environ, "POSTGRES_PASSWORD": "test-only"}

    result = subprocess.run(
        ["docker", "compose", "-f", str(DEPLOY / "compose.yaml"), "config", "-q"],
        capture_output=True,
        text=True,
        env=environment,
        timeout=60,
    )

    assert result.returncode == 0, result.stderr


def test_postgres_keeps_its_data_in_a_named_volume_and_says_when_it_is_ready(compose):
    postgres = compose["services"]["postgres"]

    assert postgres["image"].startswith("postgres:")
    volume, _, target = postgres["volumes"][0].partition(":")
    assert volume in compose["volumes"] and target == "/var/lib/postgresql/data"
    assert "pg_isready" in " ".join(postgres["healthcheck"]["test"])


def test_newswatch_is_built_here_and_starts_once_postgres_is_healthy(compose, monkeypatch):
    service = compose["services"]["newswatch"]
    storage = service["environment"]["NEWSWATCH_STORAGE_URL"]

    assert (DEPLOY / service["build"]["context"]).resolve() == ROOT
    assert (ROOT / service["build"]["dockerfile"]).resolve() == DEPLOY / "Dockerfile"
    assert service["depends_on"] == {"postgres": {"condition": "service_healthy"}}
    assert storage.startswith("postgresql+psycopg://newswatch@postgres:")  # the password is PGPASSWORD
    monkeypatch.setenv("NEWSWATCH_STORAGE_URL", storage)
    monkeypatch.delenv(cfg.TOKEN_ENV, raising=False)
    assert cfg.load(ROOT / "config.toml").storage_url == storage


def test_secrets_come_from_the_environment_only(compose):
    referenced = set()
    for name, service in compose["services"].items():
        for key, value in (service.get("environment") or {}).items():
            if SECRET_NAME.search(key):
                assert re.fullmatch(r"\$\{\w+(:[-?][^}]*)?\}", str(value)), f"{name}.{key} = {value!r}"
            referenced |= set(re.findall(r"\$\{(\w+)", str(value)))
    example = (DEPLOY / "env.example").read_text(encoding="utf-8")

    assert "NEWSWATCH_TELEGRAM_TOKEN" in referenced
    assert referenced <= set(re.findall(r"^(\w+)=", example, re.M))  # each one is documented
    assert not re.search(r"^\w+=\S", example, re.M)  # and the example holds no value
    if shutil.which("git") and (ROOT / ".git").exists():
        ignored = subprocess.run(["git", "check-ignore", "-q", "deploy/.env"], cwd=ROOT, timeout=30)
        assert ignored.returncode == 0, "deploy/.env must be ignored by git"


def test_the_self_hosted_bot_api_server_is_opt_in(compose):
    bot_api = compose["services"]["telegram-bot-api"]

    assert bot_api["profiles"] == ["bot-api"]
    assert bot_api["image"].startswith("aiogram/telegram-bot-api")
    assert {"TELEGRAM_API_ID", "TELEGRAM_API_HASH"} <= set(bot_api["environment"])
    assert 'api_base_url = "http://telegram-bot-api:8081/bot"' in (DEPLOY / "compose.yaml").read_text()
