"""Normalization: one identity per article, honest languages, UTC times, clean text."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from scrapers.normalize import (
    BEIJING,
    canonical_url,
    clean_line,
    clean_text,
    clean_url,
    detect_lang,
    headline,
    html_to_text,
    ithome_news_id,
    parse_time,
    shown_link,
    summarize,
)


@pytest.mark.parametrize(
    ("url", "canonical"),
    [
        (
            "https://www.scmp.com/tech/article/3283?utm_source=rss_feed&utm_medium=rss",
            "https://www.scmp.com/tech/article/3283",
        ),
        ("https://example.com/a?id=7&utm_campaign=x#comments", "https://example.com/a?id=7"),
        ("https://example.com/a?fbclid=abc&page=2", "https://example.com/a?page=2"),
        ("HTTPS://News.Example.COM:443/Path/Case", "https://news.example.com/Path/Case"),
        ("http://news.example.com:80/a", "http://news.example.com/a"),
        ("http://127.0.0.1:8000/news/a.html?utm_source=rss", "http://127.0.0.1:8000/news/a.html"),
        ("https://example.com", "https://example.com/"),
        ("  https://example.com/a  ", "https://example.com/a"),
        ("http://[::1]:8080/a", "http://[::1]:8080/a"),
        ("http://[2001:db8::1]/a", "http://[2001:db8::1]/a"),
    ],
)
def test_canonical_urls_drop_tracking_fragments_and_default_ports(url, canonical):
    assert canonical_url(url) == canonical


@pytest.mark.parametrize(
    "url",
    [
        "https://m.ithome.com/html/892248.htm",
        "http://m.ithome.com/html/892248.htm?from=wx#top",
        "http://www.ithome.com/0/892/248.htm",
        "https://www.ithome.com/0/892/248.htm?utm_source=rss#comment",
        "https://ITHOME.com/0/892/248.htm",
    ],
)
def test_every_ithome_form_of_an_article_is_the_https_www_url(url):
    assert canonical_url(url) == "https://www.ithome.com/0/892/248.htm"


def test_an_ithome_spider_maps_pages_on_any_host_to_the_ithome_identity():
    assert (
        canonical_url("http://127.0.0.1:8000/html/892248.htm", "ithome")
        == "https://www.ithome.com/0/892/248.htm"
    )
    assert (
        canonical_url("http://127.0.0.1:8000/0/892/048.htm", "ithome")
        == "https://www.ithome.com/0/892/048.htm"
    )


def test_other_ithome_like_sites_keep_their_urls():
    assert canonical_url("https://www.ithome.com.tw/news/165432") == "https://www.ithome.com.tw/news/165432"
    assert (
        canonical_url("https://lapin.ithome.com/html/digi/892254.htm")
        == "https://lapin.ithome.com/html/digi/892254.htm"
    )
    assert ithome_news_id("https://www.ithome.com/list/") is None


@pytest.mark.parametrize(
    ("text", "lang"),
    [
        ("OpenAI 宣布停止向中国大陆地区提供 API 服务", "zh"),
        ("微软：Azure OpenAI 将于 10 月 21 日起停止向中国大陆个人开发者提供服务", "zh"),
        ("香港用戶無法使用 ChatGPT", "zh"),
        ("OpenAI blocks API access from China and Hong Kong", "en"),
        (
            "Baidu's Ernie (文心一言) is now available to users outside China, the company said on Monday.",
            "en",
        ),
    ],
)
def test_language_is_zh_or_en_from_the_text(text, lang):
    assert detect_lang(text) == lang


@pytest.mark.parametrize(
    ("text", "lang"),
    [
        ("OpenAI、中国本土からの API 利用を遮断へ", "ja"),  # kanji, kana and Latin: still Japanese
        ("グーグル、香港で Gemini の提供を停止", "ja"),
        ("오픈AI, 중국 본토와 홍콩에서 API 차단", "ko"),
        ("Роскомнадзор ограничил доступ к ChatGPT в России", "other"),
        ("الذكاء الاصطناعي محظور في إيطاليا", "other"),
        ("小米与无印良品の合作款手机发布，售价 3999 元，搭载骁龙芯片", "zh"),  # one stray kana
    ],
)
def test_japanese_korean_and_other_scripts_are_stored_as_such(text, lang):
    assert detect_lang(text) == lang


def test_language_falls_back_to_the_hint_without_letters():
    assert detect_lang("2024 — 100%", "zh") == "zh"
    assert detect_lang("2024 — 100%") == "en"


@pytest.mark.parametrize(
    ("text", "assume", "expected"),
    [
        ("2024-10-21 09:30:12", BEIJING, datetime(2024, 10, 21, 1, 30, 12, tzinfo=UTC)),  # ITHome page
        ("2024-10-21 01:00", BEIJING, datetime(2024, 10, 20, 17, 0, tzinfo=UTC)),  # the day before in UTC
        ("2024/10/21 09:30", BEIJING, datetime(2024, 10, 21, 1, 30, tzinfo=UTC)),  # ITHome mobile
        ("Mon, 21 Oct 2024 01:30:12 GMT", BEIJING, datetime(2024, 10, 21, 1, 30, 12, tzinfo=UTC)),
        ("Mon, 21 Oct 2024 09:30:12 +0800", UTC, datetime(2024, 10, 21, 1, 30, 12, tzinfo=UTC)),
        ("2024-10-21T01:30:12Z", BEIJING, datetime(2024, 10, 21, 1, 30, 12, tzinfo=UTC)),
        ("2024-10-21T09:30:12.000+08:00", UTC, datetime(2024, 10, 21, 1, 30, 12, tzinfo=UTC)),
        ("2024-10-21 01:30:12", UTC, datetime(2024, 10, 21, 1, 30, 12, tzinfo=UTC)),
    ],
)
def test_times_become_aware_utc(text, assume, expected):
    parsed = parse_time(text, assume=assume)

    assert parsed == expected
    assert parsed.tzinfo == UTC


@pytest.mark.parametrize("text", [None, "", "yesterday", "32/13/2024"])
def test_unreadable_times_are_none(text):
    assert parse_time(text) is None


def test_entities_are_decoded_once_even_when_a_feed_escaped_them_twice():
    assert clean_line("AT&amp;T &lt;b&gt; caf&eacute;") == "AT&T <b> café"
    assert clean_line("Q&amp;amp;A") == "Q&A"


def test_whitespace_is_collapsed_with_paragraphs_kept():
    text = "  第一段\u3000\u3000内容。 \r\n\r\n\r\n  Second\u00a0 paragraph\t here. \n\n\n"

    assert clean_text(text) == "第一段 内容。\n\nSecond paragraph here."
    assert clean_line(text) == "第一段 内容。 Second paragraph here."


def test_text_is_unicode_normalized():
    assert clean_text("Cafe\u0301") == "Caf\u00e9"


def test_feed_html_becomes_paragraph_text():
    html = "<p>First &amp; <b>bold</b>.</p><ul><li>One</li><li>Two</li></ul><script>x()</script>"

    assert html_to_text(html) == "First & bold.\nOne\nTwo"
    assert html_to_text("plain &amp; simple") == "plain & simple"
    assert html_to_text(None) == ""


def test_a_summary_is_the_first_paragraph_cut_at_a_sentence():
    body = "第一句话。" * 100 + "\n第二段。"

    summary = summarize(body, limit=40)

    assert summary.endswith("。") and len(summary) <= 40
    assert summarize("Short lead.\nMore.") == "Short lead."


@pytest.mark.parametrize(
    ("link", "shown"),
    [
        ("https://news.example/item?item", "https://news.example/item?item"),
        ("https://news.example/a?from=rss&id=3&utm_source=feed", "https://news.example/a?from=rss&id=3"),
        ("https://news.example/a?spm=a.b.c&ref=home&fbclid=x", "https://news.example/a?spm=a.b.c&ref=home"),
        ("https://news.example/a?utm_medium=rss&UTM_Campaign=x", "https://news.example/a"),
        ("https://news.example/a?b=%20x&a=1#part", "https://news.example/a?b=%20x&a=1#part"),
        ("https://news.example/a", "https://news.example/a"),
    ],
)
def test_users_see_links_as_published_minus_tracking_parameters(link, shown):
    assert shown_link(link) == shown


def test_control_characters_never_survive_cleaning():
    dirty = "NUL\x00 bell\x07 escape\x1b[31m C1\x85 DEL\x7f surrogate\ud800 &#0; tab\tend"

    assert clean_line(dirty) == "NUL bell escape[31m C1 DEL surrogate \ufffd tab end"
    assert clean_text("line\x00one\nline\x0b two") == "lineone\nline two"
    assert clean_url(" https://news.example/a\x00b\t\n c ") == "https://news.example/abc"


@pytest.mark.parametrize(
    ("text", "title"),
    [
        ("RSS allows a description alone. This one says so.", "RSS allows a description alone."),
        ("谷歌停止在香港提供 Gemini。用户无法登录。", "谷歌停止在香港提供 Gemini。"),
        ("No sentence end here", "No sentence end here"),
        ("word " * 40, ("word " * 24).strip()[:119].rstrip() + "…"),
        ("", ""),
    ],
)
def test_an_entry_without_a_title_is_named_by_its_first_sentence(text, title):
    assert headline(text) == title
