"""The detector's fast paths give exactly what the plain algorithms give."""

from __future__ import annotations

import unicodedata

import pytest

from newswatch.detect.text import _nfkc


@pytest.mark.parametrize(
    "text",
    [
        "OpenAI 宣布：自７月９日起，停止向中国（含香港）提供服务！",
        "ｆｕｌｌ－ｗｉｄｔｈ ＡＰＩ　ideographic space ℃ ﬁ ①",
        "cafe\u0301 and ｅ\u0301: a combining mark after a replaced letter",
        "\u1100\u1161 jamo compose; \U0001d400 beyond the BMP; \u2126 ohm",
        "ｶﾞ half-width katakana with its voiced mark, ﾊﾟ",
        "",
    ],
)
def test_nfkc_fast_path_is_nfkc(text):
    assert _nfkc(text) == unicodedata.normalize("NFKC", text)


def test_nfkc_fast_path_on_every_bmp_character_beside_a_combining_mark():
    for cp in range(0x80, 0x10000, 7):
        text = f"a{chr(cp)}\u0301{chr(cp)}b"
        assert _nfkc(text) == unicodedata.normalize("NFKC", text), hex(cp)
