"""Alert messages in Telegram's HTML mode: every piece of text escaped, never over the limit.

The words around the story's own (the frame of an update, "Also reported by", region and action
names, for whom, from when) are in the subscriber's language (``bot.i18n``); the story's title,
summary and outlets are shown as reported.

Telegram counts a message's length in UTF-16 code units of the text left after entity parsing
(an emoji counts two). Each field gets a budget in those units, and the budgets add up to less
than the limit, so no title, summary, outlet list or keyword list can make an alert too long.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, tzinfo

from newswatch.detect.stories import EFFECTIVE, EXTENDED, LIFTED
from newswatch.storage.stories import Story
from newswatch.storage.subscribers import LANGS

from .i18n import N_, Translator, translator

TELEGRAM_TEXT_LIMIT = 4096
MAX_OUTLETS_SHOWN = 5
# Budgets in UTF-16 code units of visible text.
TITLE_MAX = 300
TAGS_MAX = 300
AUDIENCE_MAX = 150
SUMMARY_MAX = 1200
SOURCE_MAX = 64
OUTLET_MAX = 40
WATCHED_MAX = 300
PARENT_MAX = 200

AUDIENCE_LABELS = {  # None: a tracker record for everyone
    None: N_("everyone"),
    "consumers": N_("consumers"),
    "developers": N_("developers"),
    "individual-developers": N_("individual developers"),
    "enterprises": N_("enterprises"),
    "government-devices": N_("government devices"),
    "ownership": N_("companies by ownership"),
}
ACTIONS = frozenset(  # what a story does, as detection tags it
    # TRANSLATORS: actions, as alerts show them after who and where: "openai · CN · block".
    (N_("block"), N_("ban"), N_("suspend"), N_("discontinue"), N_("restrict"), N_("lift"))
)
REGION_CODES = frozenset(  # every region of the detector's vocabulary (tests/test_i18n.py checks)
    (
        # TRANSLATORS: region codes as alerts show them: the code in English, the region's name
        # in other languages ("CN" -> 中国大陆).
        N_("AE"), N_("AF"), N_("AR"), N_("AT"), N_("AU"), N_("BD"), N_("BE"), N_("BR"), N_("BY"),
        N_("CA"), N_("CH"), N_("CN"), N_("CU"), N_("CZ"), N_("DE"), N_("DK"), N_("EG"), N_("ES"),
        N_("ET"), N_("EU"), N_("FI"), N_("FR"), N_("GB"), N_("GR"), N_("HK"), N_("HU"), N_("ID"),
        N_("IE"), N_("IL"), N_("IN"), N_("IQ"), N_("IR"), N_("IS"), N_("IT"), N_("JP"), N_("KE"),
        N_("KP"), N_("KR"), N_("KZ"), N_("LI"), N_("LY"), N_("MM"), N_("MO"), N_("MX"), N_("MY"),
        N_("NG"), N_("NL"), N_("NO"), N_("NZ"), N_("PH"), N_("PK"), N_("PL"), N_("PT"), N_("QA"),
        N_("RO"), N_("RU"), N_("SA"), N_("SD"), N_("SE"), N_("SG"), N_("SY"), N_("TH"), N_("TR"),
        N_("TW"), N_("UA"), N_("US"), N_("VE"), N_("VN"), N_("ZA"),
    )
)
MONTHS = (
    N_("Jan"), N_("Feb"), N_("Mar"), N_("Apr"), N_("May"), N_("Jun"),
    N_("Jul"), N_("Aug"), N_("Sep"), N_("Oct"), N_("Nov"), N_("Dec"),
)
# A story that changes the status of an earlier one says so above its title, and names that story.
FRAMES = {
    EFFECTIVE: ("🔄", N_("Update: now in effect")),
    LIFTED: ("✅", N_("Lifted")),
    EXTENDED: ("➕", N_("Update: extended")),
}
_SENTENCE = re.compile(r"(?<=[。！？!?])|(?<=\.)\s+")
_TAG = re.compile(r"<[^>]*>")
_ICONS = {"lift": "✅", "watched": "🔎"}


def esc(text: str) -> str:
    return html.escape(text, quote=True)


def utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le", "surrogatepass")) // 2


# The fixed words are counted in English, except the frame: in Chinese they are shorter
# (test_render checks the longest alert in every language).
_WORST_CASE = sum(
    (
        2 + max(utf16_len(translator(lang).gettext(f)) for lang in LANGS for _, f in FRAMES.values()),
        3 + TITLE_MAX,  # icon, space, title
        TAGS_MAX,
        AUDIENCE_MAX,
        9 + PARENT_MAX + 14,  # "Earlier: " title " (21 Oct 2024)"
        SUMMARY_MAX,
        SOURCE_MAX + 25,  # " · 2024-10-21 01:30 UTC"
        16,  # "Read the article"
        37 + MAX_OUTLETS_SHOWN * (OUTLET_MAX + 2),  # "Also reported by a, b and 12345 more"
        9 + WATCHED_MAX,  # "Watched: "
        9,  # line breaks
    )
)
assert _WORST_CASE < TELEGRAM_TEXT_LIMIT


def clip(text: str, limit: int) -> str:
    """``text`` cut to at most ``limit`` UTF-16 units, "…" marking the cut."""
    if len(text) <= limit // 2 or utf16_len(text) <= limit:
        return text
    kept, used = [], 0
    for ch in text:
        used += 2 if ord(ch) > 0xFFFF else 1
        if used > limit - 1:
            break
        kept.append(ch)
    return "".join(kept).rstrip() + "…"


def one_line(text: str) -> str:
    return " ".join(text.split())


def visible_text(markup: str) -> str:
    """The text Telegram shows for our own markup: tags removed, entities decoded, ends stripped."""
    return html.unescape(_TAG.sub("", markup)).strip()


def visible_length(markup: str) -> int:
    """Telegram's length of our own markup."""
    return utf16_len(visible_text(markup))


def summary_sentences(summary: str, max_sentences: int = 3, limit: int = 600) -> str:
    parts = [p.strip() for p in _SENTENCE.split(summary.strip()) if p and p.strip()]
    joined = ""
    for part in parts[:max_sentences]:
        candidate = f"{joined} {part}".strip() if joined and part[0].isascii() else joined + part
        if len(candidate) > limit:
            break
        joined = candidate
    return joined or clip(summary.strip(), limit)


def flag(region: str) -> str:
    """The flag emoji of a region code (EU has one too): two regional indicator symbols."""
    if len(region) != 2 or not region.isascii() or not region.isalpha():
        return ""
    return "".join(chr(0x1F1E6 + ord(c) - ord("A")) for c in region.upper())


def listed(items: Iterable[str], t: Translator) -> str:
    """Items as a list in words: "CN, HK"; "中国大陆、香港"."""
    # TRANSLATORS: what separates the items of a list: "China, Hong Kong".
    return t.gettext(", ").join(items)


def region_name(code: str, t: Translator) -> str:
    """A region as tag lines show it: "CN" in English, "中国大陆" in Chinese; a code we have no
    words for as it is."""
    return t.gettext(code) if code in REGION_CODES else code


def tag_line(story: Story, t: Translator) -> str:
    """Who, where, what: "microsoft (azure openai) · CN · discontinue". Providers and services are
    names, shown as tagged; regions and actions are our words (tags we do not know stay as they are)."""
    tags = story.tags
    who = listed(tags.providers, t) or "—"
    if tags.services:
        who += f" ({listed(tags.services, t)})"
    where = listed((region_name(r, t) for r in tags.regions), t)
    what = listed((t.gettext(a) if a in ACTIONS else a for a in tags.actions), t)
    return " · ".join(part for part in (who, where, what) if part)


def day(when: date, t: Translator, year: bool = True) -> str:
    """A date as people write it: "21 Oct 2024" ("2 Dec" without the year), "2024年10月21日"."""
    month = t.gettext(MONTHS[when.month - 1])
    if not year:
        return t.gettext("{day} {month}").format(day=when.day, month=month)
    return t.gettext("{day} {month} {year}").format(day=when.day, month=month, year=when.year)


def audience_label(audience: str | None, t: Translator) -> str:
    """For whom, in words: "individual developers"; an audience we have no words for as it is."""
    return t.gettext(AUDIENCE_LABELS[audience]) if audience in AUDIENCE_LABELS else audience or ""


def audience_line(story: Story, t: Translator) -> str:
    """For whom and from when: "individual developers · from 21 Oct 2024"; "" when neither is known."""
    whom = listed((audience_label(a, t) for a in story.tags.audience), t)
    when = t.gettext("from {day}").format(day=day(story.effective, t)) if story.effective else ""
    return " · ".join(part for part in (whom, when) if part)


@dataclass(frozen=True)
class Lead:
    """The report an alert leads with: its title, summary, source and link."""

    source: str
    url: str
    title: str
    summary: str


def first_report(story: Story) -> Lead:
    return Lead(story.source, story.url, story.title, story.summary)


def _outlet_lead(story: Story, outlet: dict) -> Lead:
    return Lead(
        outlet.get("source") or "",
        outlet["url"],
        outlet.get("title") or story.title,
        outlet.get("summary") or "",
    )


def choose_lead(story: Story, lang: str | None) -> Lead:
    """The first report in the subscriber's language (English when none was chosen), else the story's
    first report. Outlets stored before languages were kept have none, so they never lead."""
    want = lang or "en"
    if story.lang != want:
        for outlet in story.outlets:
            if outlet.get("lang") == want and outlet.get("url"):
                return _outlet_lead(story, outlet)
    return first_report(story)


def lead_at(story: Story, url: str | None) -> Lead:
    """The lead an alert was sent with, found by its link: an edit keeps it."""
    if url and url != story.url:
        for outlet in story.outlets:
            if outlet.get("url") == url:
                return _outlet_lead(story, outlet)
    return first_report(story)


def other_outlets(story: Story, lead: Lead | None = None) -> list[dict]:
    """Outlets besides the one the alert leads with: one entry per source, in order of arrival."""
    seen = {(lead or first_report(story)).source}
    others = []
    for outlet in story.outlets:
        source = outlet.get("source") or ""
        if source and source not in seen and outlet.get("url"):
            seen.add(source)
            others.append(outlet)
    return others


def render_alert(
    story: Story, lang: str | None = None, *, lead: Lead | None = None, parent: Story | None = None
) -> str:
    """The alert for a story in a subscriber's language: led by ``lead`` (by default the first
    report in ``lang``), with the other outlets as "also reported by"; a status change is framed
    as an update of ``parent``, the earlier story, named with its title, date and link. Our own
    words are in ``lang`` too (English when none was chosen)."""
    t = translator(lang)
    lead = lead or choose_lead(story, lang)
    icon = "🔎" if not story.relevant else _ICONS.get(next(iter(story.tags.actions), ""), "🚫")
    when = f"{story.published:%Y-%m-%d %H:%M} UTC"
    lines = []
    if story.change in FRAMES:
        frame_icon, frame = FRAMES[story.change]
        lines.append(f"{frame_icon} {esc(t.gettext(frame))}")
    lines.append(f"{icon} <b>{esc(clip(one_line(lead.title), TITLE_MAX))}</b>")
    if story.relevant:
        lines.append(f"<i>{esc(clip(one_line(tag_line(story, t)), TAGS_MAX))}</i>")
        if who_when := audience_line(story, t):
            lines.append(f"<i>{esc(clip(who_when, AUDIENCE_MAX))}</i>")
    if parent is not None and story.change in FRAMES:
        earlier = choose_lead(parent, lang)
        title = f'<a href="{esc(earlier.url)}">{esc(clip(one_line(earlier.title), PARENT_MAX))}</a>'
        lines.append(t.gettext("Earlier: {title} ({day})").format(title=title, day=day(parent.published, t)))
    summary = one_line(lead.summary)
    if summary:
        lines.append(esc(clip(summary_sentences(summary), SUMMARY_MAX)))
    lines.append(f"{esc(clip(one_line(lead.source), SOURCE_MAX))} · {when}")
    read = t.gettext("Read the article")
    lines.append(f'<a href="{esc(lead.url)}">{esc(read)}</a>')
    others = other_outlets(story, lead)
    if others:
        shown = listed(
            (
                f'<a href="{esc(o["url"])}">{esc(clip(one_line(o["source"]), OUTLET_MAX))}</a>'
                for o in others[:MAX_OUTLETS_SHOWN]
            ),
            t,
        )
        if len(others) > MAX_OUTLETS_SHOWN:
            more = len(others) - MAX_OUTLETS_SHOWN
            shown = t.gettext("{outlets} and {count} more").format(outlets=shown, count=more)
        lines.append(t.gettext("Also reported by {outlets}").format(outlets=shown))
    if story.watched:
        watched = esc(clip(one_line(", ".join(story.watched)), WATCHED_MAX))
        lines.append(t.gettext("Watched: {keywords}").format(keywords=watched))
    return "\n".join(lines)


def render_story_line(story: Story, lang: str | None = None, tz: tzinfo = UTC) -> str:
    """One line of /latest and of a digest, led by the first report in ``lang``, its time in the
    subscriber's timezone."""
    t = translator(lang)
    lead = choose_lead(story, lang)
    link = t.gettext("link")
    return (
        f"• <b>{esc(clip(one_line(lead.title), 200))}</b> — <i>{esc(clip(tag_line(story, t), 100))}</i> "
        f"({esc(clip(lead.source, SOURCE_MAX))}, {story.published.astimezone(tz):%m-%d %H:%M}) "
        f'<a href="{esc(lead.url)}">{esc(link)}</a>'
    )


def join_within(lines: Iterable[str], lang: str | None = None, limit: int = TELEGRAM_TEXT_LIMIT) -> str:
    """Whole lines of markup, as many as fit in one message; "… and N more" (in ``lang``) for the
    rest."""
    t = translator(lang)
    lines = list(lines)
    kept: list[str] = []
    used = 0
    for i, line in enumerate(lines):
        size = visible_length(line) + (1 if kept else 0)
        rest = len(lines) - i - 1
        reserve = 1 + visible_length(esc(t.gettext("… and {count} more").format(count=rest))) if rest else 0
        if used + size + reserve > limit:
            kept.append(esc(t.gettext("… and {count} more").format(count=len(lines) - i)))
            break
        kept.append(line)
        used += size
    return "\n".join(kept)
