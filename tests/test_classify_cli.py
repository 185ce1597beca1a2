"""`newswatch classify`: JSON Lines in, JSON Lines out, bad lines reported and skipped."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest


def run_classify(tmp_path: Path, lines: list[str], *extra: str) -> subprocess.CompletedProcess:
    config = tmp_path / "config.toml"
    config.write_text('[watch]\nkeywords = ["Copilot"]\n', encoding="utf-8")
    return subprocess.run(
        [sys.executable, "-m", "newswatch", "--config", str(config), "classify", *extra],
        input="\n".join(lines) + "\n",
        capture_output=True,
        text=True,
        timeout=120,
        encoding="utf-8",
    )


def test_each_line_gets_relevance_tags_and_a_story(tmp_path):
    items = [
        {
            "id": "a",
            "title": "OpenAI to block API access from China",
            "text": "Starting July 9.",
            "published": "2024-06-25T08:00:00Z",
        },
        {
            "id": "b",
            "title": "OpenAI 将封锁来自中国大陆的 API 访问",
            "text": "7 月 9 日起生效。",
            "published": "2024-06-25T10:00:00+00:00",
        },
        {"id": "c", "title": "GitHub Copilot adds a new model picker", "text": "Available to all plans."},
    ]
    result = run_classify(tmp_path, [json.dumps(i, ensure_ascii=False) for i in items])
    assert result.returncode == 0, result.stderr
    out = [json.loads(line) for line in result.stdout.splitlines()]
    assert [o["id"] for o in out] == ["a", "b", "c"]
    assert out[0]["relevant"] and out[0]["tags"] == {
        "providers": ["openai"],
        "services": ["openai api"],
        "regions": ["CN"],
        "actions": ["block"],
        "audience": ["developers"],
    }
    assert 0 < out[0]["score"] <= 1
    assert out[0]["story"] == out[1]["story"] != out[2]["story"]
    assert out[0]["story"].startswith("s-")
    assert not out[2]["relevant"] and out[2]["watched"] == ["copilot"]


def test_bad_lines_are_reported_with_their_number_and_skipped(tmp_path):
    lines = [
        '{"id": "1", "title": "Italy blocks ChatGPT", "text": "The Garante acted."}',
        "not json at all",
        '{"id": "3", "text": "no title"}',
        "[1, 2]",
        '{"id": "5", "title": "Italy lifts its ChatGPT ban"}',
    ]
    result = run_classify(tmp_path, lines)
    assert [json.loads(x)["id"] for x in result.stdout.splitlines()] == ["1", "5"]
    assert "-:2: skipped: not JSON" in result.stderr
    assert '-:3: skipped: missing "title"' in result.stderr
    assert "-:4: skipped: not a JSON object" in result.stderr
    assert result.returncode == 1
    assert "Traceback" not in result.stderr


def test_a_missing_file_is_one_clear_line(tmp_path):
    result = run_classify(tmp_path, [], str(tmp_path / "nope.jsonl"))
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        f"error: {tmp_path / 'nope.jsonl'}: No such file or directory"
    ]


@pytest.mark.parametrize("key", ["[vocabulary.regions.China]\naliases = ['x']", "[watch]\nkeywords = [1]"])
def test_a_bad_vocabulary_or_watch_list_exits_2(tmp_path, key):
    config = tmp_path / "config.toml"
    config.write_text(key + "\n", encoding="utf-8")
    result = subprocess.run(
        [sys.executable, "-m", "newswatch", "--config", str(config), "classify"],
        input="",
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2, result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert str(config) in result.stderr or "vocabulary" in result.stderr


def test_config_may_follow_the_command(tmp_path):
    config = tmp_path / "config.toml"
    config.write_text('[watch]\nkeywords = ["Copilot"]\n', encoding="utf-8")
    result = subprocess.run(
        [sys.executable, "-m", "newswatch", "classify", "--config", str(config)],
        input='{"id": "x", "title": "Copilot gets a new model"}\n',
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["watched"] == ["copilot"]


def test_each_line_says_when_the_change_takes_effect_and_a_status_change_names_its_story(tmp_path):
    items = [
        {
            "id": "block",
            "title": "Italy blocks ChatGPT",
            "text": "The Garante ordered OpenAI to stop.",
            "published": "2023-03-31T10:00:00Z",
        },
        {
            "id": "lift",
            "title": "Italy lifts its ChatGPT ban",
            "text": "OpenAI restored access for Italians.",
            "published": "2023-04-28T18:00:00Z",
        },
    ]
    result = run_classify(tmp_path, [json.dumps(i) for i in items])
    assert result.returncode == 0, result.stderr
    block, lift = (json.loads(line) for line in result.stdout.splitlines())

    assert "effective" in block and "audience" in block["tags"]  # null and [] until the text says
    assert "change" not in block and "parent" not in block
    assert (lift["change"], lift["parent"]) == ("lifted", block["story"])
    assert lift["story"] != block["story"]
