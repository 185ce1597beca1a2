"""Detection: relevance, tags, watched keywords and stories, in English and Chinese."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from newswatch.detect.classifier import Classifier
from newswatch.detect.evaluation import evaluate, load_corpus
from newswatch.detect.keywords import KeywordMatcher, clean_keyword
from newswatch.detect.pipeline import Detector
from newswatch.detect.stories import MemoryIndex, assign
from newswatch.detect.vocabulary import VocabularyError, build

CORPORA = Path(__file__).parent / "corpus"
CORPUS = CORPORA / "articles.jsonl"


@pytest.fixture(scope="module")
def classifier() -> Classifier:
    return Classifier(build())


@pytest.fixture(scope="module", params=["articles.jsonl", "devset.jsonl"])
def corpus_report(request):
    """The main corpus, and a second one written separately, without looking at the classifier."""
    return evaluate(load_corpus(CORPORA / request.param))


# --- the labeled corpus: floors ------------------------------------------------------------------


def test_corpus_is_large_and_mixed():
    items = load_corpus(CORPUS)
    langs = {item["lang"] for item in items}
    assert len(items) >= 200
    assert langs == {"en", "zh-hans", "zh-hant"}
    assert sum(item["relevant"] for item in items) >= 80
    assert len({item["group"] for item in items if item["group"]}) >= 30


def test_relevance_meets_the_targets(corpus_report):
    assert corpus_report.relevance.precision >= 0.97
    assert corpus_report.relevance.f1 >= 0.95


def test_provider_and_region_tags_are_mostly_right(corpus_report):
    assert corpus_report.tags["providers"].f1 >= 0.93
    assert corpus_report.tags["regions"].f1 >= 0.93


def test_story_grouping_makes_no_false_joins(corpus_report):
    for scope, score in corpus_report.stories.items():
        assert score.fp == 0, scope
        assert score.recall >= 0.6, scope


# --- the topic and its look-alikes ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("title", "text", "providers", "regions", "actions"),
    [
        (
            "OpenAI to block API traffic from China and Hong Kong",
            "Developers in unsupported regions will lose access from July 9.",
            ["openai"],
            ["CN", "HK"],
            ["block"],
        ),
        (
            "微软：10 月 21 日起停止向中国大陆个人开发者提供 Azure OpenAI 服务",
            "IT之家 10 月 10 日消息，企业客户不受影响。",
            ["microsoft", "openai"],
            ["CN"],
            ["discontinue"],
        ),
        ("義大利解除對 ChatGPT 的封鎖", "OpenAI 已恢復義大利用戶的訪問。", ["openai"], ["IT"], ["lift"]),
        (
            "Italy bans Chinese AI app DeepSeek",
            "The Garante ordered the chatbot blocked in the country.",
            ["deepseek"],
            ["IT"],
            ["ban"],
        ),
        (
            "Ａｐｐｌｅ Ｉｎｔｅｌｌｉｇｅｎｃｅ 终于在中国大陆上线",
            "此前国行 iPhone 无法使用该功能。",
            ["apple"],
            ["CN"],
            ["lift"],
        ),
        (
            "Meta AI won&#39;t launch in the EU for now",
            "Meta says the bloc&amp;s regulators leave it no choice.",
            ["meta"],
            ["EU"],
            ["restrict"],
        ),
    ],
)
def test_restrictions_and_lifts_are_found_and_tagged(classifier, title, text, providers, regions, actions):
    result = classifier.classify(title, text)
    assert result.relevant
    assert list(result.tags.providers) == providers
    assert list(result.tags.regions) == regions
    assert list(result.tags.actions) == actions


@pytest.mark.parametrize(
    ("title", "text"),
    [
        ("ChatGPT is down for users in Europe", "OpenAI says it is investigating elevated error rates."),
        (
            "Microsoft opens new Azure cloud region in Malaysia",
            "The datacenter region supports Azure OpenAI.",
        ),
        ("US tightens export controls on Nvidia AI chips to China", "The rules restrict H20 sales."),
        ("Samsung bans staff from using ChatGPT after leak", "Employees may not use generative AI at work."),
        ("Italy fines OpenAI €15 million over ChatGPT data", "The Garante did not order a block this time."),
        ("OpenAI releases GPT-5 to all users", "The model is available worldwide today."),
        ("微软宣布 Windows 10 将于 10 月停止支持", "中国用户需要升级到 Windows 11。"),
        ("美国众议院通过法案，可能禁止 TikTok", "字节跳动需要剥离 TikTok 美国业务。"),
    ],
)
def test_look_alikes_are_not_the_topic(classifier, title, text):
    assert not classifier.classify(title, text).relevant


def test_tags_are_empty_when_off_topic(classifier):
    result = classifier.classify("Apple launches the iPhone 17 in China", "Sales start on Friday.")
    assert not result.relevant
    assert not result.tags


def test_any_input_is_classified_without_error(classifier):
    for text in ["", "<<<>>>&&&", "a" * 100_000, "中" * 50_000, "\x00\ufffd\u202e", "OpenAI " * 10_000]:
        classifier.classify(text, text)


# --- watched keywords ------------------------------------------------------------------------------


def test_watched_keywords_keep_off_topic_articles():
    detector = Detector(Classifier(build(), KeywordMatcher(["Azure OpenAI", "封号"])))
    detection, _ = detector.analyze("Azure OpenAI adds new models in East US", "Pricing is unchanged.")
    assert not detection.relevant
    assert detection.watched == ("azure openai",)
    assert detection.kept


def test_excluded_keywords_win(classifier):
    excluding = Classifier(classifier.vocab, exclude=KeywordMatcher(["sponsored"]))
    assert not excluding.classify("Sponsored: OpenAI blocks API access in China", "").relevant


def test_keywords_match_whole_words_and_other_scripts():
    matcher = KeywordMatcher(["ban", "封號", "C++ (lang)"])
    assert matcher.find(clean_keyword("Italy's BAN on chatbots")) == ("ban",)
    assert matcher.find(clean_keyword("a banana bank")) == ()
    assert matcher.find(clean_keyword("大量用户被封号")) == ("封号",)
    assert matcher.find(clean_keyword("about c++ (lang) today")) == ("c++ (lang)",)


@pytest.mark.parametrize("raw", ["", "   ", "<b></b>", "x" * 101])
def test_unusable_keywords_are_refused_with_a_reason(raw):
    with pytest.raises(ValueError):
        clean_keyword(raw)


# --- vocabulary from config.toml ---------------------------------------------------------------------


def test_operators_extend_the_vocabulary():
    extra = {
        "providers": {"acme": {"ai": True, "aliases": ["Acme AI", "阿克米"]}},
        "regions": {"XK": {"aliases": ["Kosovo", "科索沃"]}},
    }
    result = Classifier(build(extra)).classify("阿克米停止向科索沃用户提供服务", "")
    assert result.relevant
    assert result.tags.providers == ("acme",)
    assert result.tags.regions == ("XK",)


def test_bad_vocabulary_entries_are_reported():
    with pytest.raises(VocabularyError, match=r"regions\.China"):
        build({"regions": {"China": {"aliases": ["x"]}}})
    with pytest.raises(VocabularyError, match="unknown action"):
        build({"actions": {"nuke": ["x"]}})


# --- stories --------------------------------------------------------------------------------------------


def _story(index, detector, title, text, when, seed):
    _, keys = detector.analyze(title, text)
    return assign(index, keys, when, seed)[0]


def test_the_same_event_in_two_languages_is_one_story():
    detector, index = Detector(Classifier(build())), MemoryIndex()
    t = datetime(2024, 10, 10, tzinfo=UTC)
    first = _story(
        index,
        detector,
        "Microsoft to stop offering Azure OpenAI to individual developers in China",
        "Enterprise customers are not affected.",
        t,
        "a",
    )
    second = _story(
        index,
        detector,
        "微软将停止向中国大陆个人开发者提供 Azure OpenAI 服务",
        "企业客户不受影响。",
        t + timedelta(hours=5),
        "b",
    )
    assert first == second


def test_the_same_provider_and_region_months_apart_is_a_new_story():
    detector, index = Detector(Classifier(build())), MemoryIndex()
    t = datetime(2023, 3, 31, tzinfo=UTC)
    first = _story(index, detector, "Italy blocks ChatGPT", "The Garante ordered OpenAI to stop.", t, "a")
    again = _story(
        index,
        detector,
        "Italy blocks ChatGPT again",
        "The Garante ordered OpenAI to stop.",
        t + timedelta(days=300),
        "b",
    )
    lifted = _story(
        index,
        detector,
        "Italy lifts its ChatGPT ban",
        "OpenAI restored access for Italians.",
        t + timedelta(days=2),
        "c",
    )
    assert len({first, again, lifted}) == 3


def test_a_repost_with_small_edits_joins_the_story():
    detector, index = Detector(Classifier(build())), MemoryIndex()
    text = (
        "Xiaomi has unveiled a new phone with a larger battery, a brighter screen and a faster chip. "
        "It goes on sale next week in several markets, starting at a lower price than last year."
    )
    t = datetime(2025, 5, 1, tzinfo=UTC)
    first = _story(index, detector, "Xiaomi unveils its new phone", text, t, "a")
    repost = _story(
        index,
        detector,
        "Xiaomi unveils new phone",
        text.replace("next week", "on Monday"),
        t + timedelta(hours=2),
        "b",
    )
    other = _story(
        index,
        detector,
        "Huawei earnings beat estimates",
        "Revenue rose twenty percent on cloud sales.",
        t,
        "c",
    )
    assert first == repost != other
