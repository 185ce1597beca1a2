"""Dates in news text: when a change takes or took effect ("starting Oct. 21", "自10月21日起").

Pure functions over normalized text (lower case, NFKC, Simplified Chinese). A date without a year, a
weekday or "today" is resolved against the publication date: month-day to the nearest such day
(a December article's "Jan. 5" is next year's), a weekday to the last one (or, after "from",
"starting" or "will", the next one). Datelines ("SEOUL, Feb. 17 (Yonhap) --", "IT之家 6 月 25 日消息",
"中央社台北31日电") are the publication's date, not the change's, and are skipped.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta

_MONTHS = {
    "jan": 1, "feb": 2, "mar": 3, "apr": 4, "may": 5, "jun": 6,
    "jul": 7, "aug": 8, "sep": 9, "oct": 10, "nov": 11, "dec": 12,
}  # fmt: skip
_MONTH = r"(?P<mon>jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)[a-z]*\.?"
_DAY = r"(?P<day>[0-3]?\d)(?:st|nd|rd|th)?"
_WEEKDAYS = {
    "monday": 0, "tuesday": 1, "wednesday": 2, "thursday": 3, "friday": 4, "saturday": 5, "sunday": 6,
    "一": 0, "二": 1, "三": 2, "四": 3, "五": 4, "六": 5, "日": 6, "天": 6,
}  # fmt: skip
_YESTERDAY = ("yesterday", "昨日", "昨天")
_TOMORROW = ("tomorrow", "明日", "明天")

_DATE_RE = re.compile(
    "|".join(
        (
            rf"(?P<en_md>\b{_MONTH}\s+{_DAY}\b(?:,?\s+(?P<year>20\d\d))?)",
            r"(?P<en_dm>\b(?P<day2>[0-3]?\d)\s+(?P<mon2>jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)[a-z]*\.?(?:\s+(?P<year2>20\d\d))?)",
            r"(?P<zh>(?<!\d)(?:(?P<zy>20\d\d)\s*年\s*)?(?:(?P<zm>1[0-2]|0?[1-9])\s*月\s*)?(?P<zd>[1-3]?\d)\s*[日号](?!本|元|韩|圆))",
            r"(?P<wd>\b(?P<wd_en>monday|tuesday|wednesday|thursday|friday|saturday|sunday)\b|(?:周|星期|礼拜)(?P<wd_zh>[一二三四五六日天]))",
            r"(?P<rel>\btoday\b|\btonight\b|\bimmediately\b|\bimmediate effect\b|\byesterday\b|\btomorrow\b"
            r"|即日|今日|今天|今起|当天|当日|立即|即时|今晨|昨日|昨天|明日|明天)",
        )
    )
)
# Before a date: it starts something ("from", "starting", "自", "从", "由"); after it: "起", "生效".
_START_BEFORE_RE = re.compile(
    r"(?:\bfrom|\bstarting(?: on| from)?|\bbeginning(?: on)?|\bas of|\beffective(?: from| on)?"
    r"|\bwith effect from|\bcame into force on|\bcomes into force on|\btakes effect on|\btook effect on"
    r"|\bgoes into effect on|\bin effect from|自|从|由)\s*(?:this |next |last )?$"
)
_START_AFTER_RE = re.compile(
    r"^\s*(?:\d{1,2}\s*[时点](?:\d{1,2}\s*分)?\s*)?(?:起|开始|生效|正式生效|起生效|起正式)"
)
_START_WORDS_RE = re.compile(
    r"effective immediately|with immediate effect|taking effect immediately|applying immediately"
    r"|take effect immediately|takes effect immediately|立即生效|即日起|今日起|今天起|今起|即时生效"
)
# A dateline: the date the story was filed ("IT之家 6 月 25 日消息", "首尔2月17日电", "feb. 17 (yonhap)").
_DATELINE_AFTER_RE = re.compile(r"\s*(?:晚间|早间|上午|下午|凌晨)?\s*(?:消息|电|讯|报道|综合|外电|\()")
# Right before a weekday: the next one is meant ("from Monday", "will ... on Monday", "下周一")
_FUTURE_BEFORE_RE = re.compile(
    r"(?:\b(?:next|from|starting|beginning|as of|effective|coming)\s+(?:on\s+)?"
    r"|\bwill\b[^.,;]{0,30}\bon\s+|下)$"
)
_IMMEDIATE = ("immediately", "immediate effect", "立即", "即时", "即日")
_LOCAL_OFFSET = timedelta(hours=8)  # Chinese-language outlets date "today" in UTC+8


# Reporting verbs: a date beside one says when something was said, not when it happened.
_REPORTING_RE = re.compile(
    r"\b(?:said|says|say|announced|announces|told|tells|confirmed|according|reported|wrote)\b"
    r"|表示|宣布|称|指出|透露|公布|通报|证实|报道|获悉|了解到"
)
_REPORTED_ON_RE = re.compile(
    r"\b(?:said|says|announced|told|confirmed|reported)\s+(?:on\s+|late\s+|early\s+)?$|(?:表示|宣布|称|公布|通报)$"
)
_NEAR = 24  # characters between a plain date and the action it dates ("on Saturday temporarily blocked")


@dataclass(frozen=True)
class DateMention:
    start: int
    end: int
    day: date
    starts: bool  # marked as the start of something: "from July 9", "9 日起", "effective immediately"


def reference_day(text: str, start: int, end: int, published: datetime | None) -> date | None:
    """The local date of writing: the dateline's ("SEOUL, Feb. 17 (Yonhap)", "中央社罗马30日电") when
    ``text[start:end]`` (the first sentence of the body) has one, else the publication date, in UTC+8
    for Chinese-language text."""
    if published is None:
        return None
    span = text[start:end]
    local = (published + _LOCAL_OFFSET if not span.isascii() else published).date()
    for m in _DATE_RE.finditer(span, 0, 80):
        if not m["rel"] and not m["wd"] and _DATELINE_AFTER_RE.match(span, m.end()):
            return _resolve(m, local, future=False) or local
    return local


def mentions(text: str, start: int, end: int, today: date) -> list[DateMention]:
    """The dates in ``text[start:end]`` (one sentence) other than datelines, resolved against
    ``today``. "Effective immediately" in a sentence that names the day takes that day ("当地时间周四
    ……该措施立即生效")."""
    span = text[start:end]
    found: list[tuple[re.Match[str], DateMention]] = []
    for m in _DATE_RE.finditer(span):
        if _DATELINE_AFTER_RE.match(span, m.end()):
            continue
        before = span[max(0, m.start() - 40) : m.start()]
        day = _resolve(m, today, future=bool(_FUTURE_BEFORE_RE.search(before)))
        if day is None:
            continue
        after = span[m.end() : m.end() + 12]
        starts = bool(
            m["rel"] in _IMMEDIATE
            or _START_BEFORE_RE.search(before[-30:])
            or _START_AFTER_RE.match(after)
            or _START_WORDS_RE.search(span, max(0, m.start() - 12), m.end() + 12)
        )
        found.append((m, DateMention(start + m.start(), start + m.end(), day, starts)))
    named = next((mention.day for m, mention in found if not m["rel"]), None)
    return [
        DateMention(mention.start, mention.end, named, True)
        if m["rel"] and mention.starts and named
        else mention
        for m, mention in found
    ]


def attached(text: str, mention: DateMention, positions: list[int]) -> bool:
    """Whether a plain date dates one of the actions at ``positions`` ("Indonesia on Saturday
    temporarily blocked", "28日在韩国应用市场重新上线"): close to it, with no reporting verb between
    ("the regulator said Monday", "said on Saturday the block was needed")."""
    if _REPORTED_ON_RE.search(text, max(0, mention.start - 12), mention.start):
        return False
    for position in positions:
        left, right = (mention.end, position) if position >= mention.end else (position, mention.start)
        if 0 <= right - left <= _NEAR and not _REPORTING_RE.search(text, left, right):
            return True
    return False


def _resolve(m: re.Match[str], today: date, future: bool) -> date | None:
    if m["en_md"] or m["en_dm"]:
        month = _MONTHS[m["mon"] or m["mon2"]]
        return _month_day(int(m["day"] or m["day2"]), month, m["year"] or m["year2"], today)
    if m["zh"]:
        month = int(m["zm"]) if m["zm"] else None
        return _month_day(int(m["zd"]), month, m["zy"], today)
    if m["wd"]:
        weekday = _WEEKDAYS[m["wd_en"] or m["wd_zh"]]
        back = (today.weekday() - weekday) % 7
        if future and back:
            return today + timedelta(days=7 - back)
        return today - timedelta(days=back)
    word = m["rel"]
    if word in _YESTERDAY:
        return today - timedelta(days=1)
    if word in _TOMORROW:
        return today + timedelta(days=1)
    return today


def _month_day(day: int, month: int | None, year: str | None, today: date) -> date | None:
    """The date nearest ``today`` with this day (and month, and year when given)."""
    if not 1 <= day <= 31:
        return None
    if month is None:  # "15日": this month, or the one before or after
        candidates = [_shift_month(today, delta) for delta in (-1, 0, 1)]
        options = [_safe_date(y, mo, day) for y, mo in candidates]
    elif year is not None:
        options = [_safe_date(int(year), month, day)]
    else:
        options = [_safe_date(today.year + delta, month, day) for delta in (-1, 0, 1)]
    valid = [option for option in options if option is not None]
    return min(valid, key=lambda option: abs(option - today)) if valid else None


def _shift_month(today: date, delta: int) -> tuple[int, int]:
    index = today.year * 12 + today.month - 1 + delta
    return index // 12, index % 12 + 1


def _safe_date(year: int, month: int, day: int) -> date | None:
    try:
        return date(year, month, day)
    except ValueError:
        return None
