"""``newswatch tracker``: the current table with a history line per record, JSON, filters, and
one-line errors for unknown names and bad ``[[tracker.events]]``."""

from __future__ import annotations

import json

import pytest

CONFIG = """
    [storage]
    url = "sqlite:///store.db"

    [[tracker.events]]
    service = "deepseek"
    regions = ["DE"]
    action = "ban"
    effective = 2025-06-27
    title = "DeepSeek taken off German app stores"
    url = "https://news.example/deepseek-de"
"""

pytestmark = pytest.mark.slow


def test_the_table_has_a_history_line_under_each_record(newswatch, write_config) -> None:
    result = newswatch("tracker", "--provider", "ChatGPT", "--region", "it", "--config", write_config(CONFIG))
    assert result.returncode == 0, result.stderr
    header, row, history = result.stdout.splitlines()
    assert header.split() == ["subject", "region", "audience", "status", "since", "effective"]
    assert row.split() == ["ChatGPT", "IT", "everyone", "lifted", "2023-04-28", "2023-04-28"]
    assert history.startswith("    2023-03-31 restricted (OpenAI geoblocks ChatGPT in Italy")
    assert " → 2023-04-28 lifted (ChatGPT is back in Italy" in history


def test_json_lists_every_record_with_its_events_and_config_events_count(newswatch, write_config) -> None:
    result = newswatch("--config", write_config(CONFIG), "tracker", "--json")
    assert result.returncode == 0, result.stderr
    records = json.loads(result.stdout)
    assert len(records) >= 30
    germany = [r for r in records if r["region"] == "DE"]
    assert [(r["subject"], r["status"], r["since"], r["events"][0]["origin"]) for r in germany] == [
        ("deepseek", "restricted", "2025-06-27", "config")
    ]
    assert {
        "subject",
        "providers",
        "region",
        "audience",
        "status",
        "since",
        "effective",
        "history",
        "events",
    } == set(records[0])


@pytest.mark.parametrize(
    "args, message",
    [
        (["--provider", "nosuchai"], "error: unknown provider or service 'nosuchai'"),
        (["--region", "XX"], "error: unknown region 'XX'"),
    ],
)
def test_unknown_names_are_a_one_line_usage_error(newswatch, write_config, args, message) -> None:
    result = newswatch("tracker", *args, "--config", write_config(CONFIG))
    assert result.returncode == 2
    assert result.stderr.startswith(message) and result.stderr.count("\n") == 1


@pytest.mark.parametrize("command", ["tracker", "run"])
def test_a_bad_tracker_event_is_one_line_naming_it(newswatch, write_config, command) -> None:
    bad = CONFIG.replace('"deepseek"', '"grok"').replace('["DE"]', '["TR", "XX"]')
    path = write_config(CONFIG + bad.split("\n", 3)[3])  # a second [[tracker.events]], in no region
    result = newswatch(command, "--config", path)
    assert result.returncode == 2
    assert result.stderr == f"error: {path}: tracker.events[1].regions: unknown region 'XX'\n"
