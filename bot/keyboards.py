"""Inline menus for choosing regions and providers. Pure: builds markup from the current choice, in
the chat's language."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from telegram import InlineKeyboardButton, InlineKeyboardMarkup

from .i18n import N_, translator
from .render import flag, listed

REGIONS = {
    "CN": N_("China"),
    "HK": N_("Hong Kong"),
    "MO": N_("Macau"),
    "TW": N_("Taiwan"),
    "RU": N_("Russia"),
    "IR": N_("Iran"),
    "KP": N_("N. Korea"),
    "EU": N_("EU"),
    "US": N_("USA"),
    "GB": N_("UK"),
    "IT": N_("Italy"),
    "KR": N_("S. Korea"),
    "JP": N_("Japan"),
    "IN": N_("India"),
    "TR": N_("Türkiye"),
    "AU": N_("Australia"),
    "CA": N_("Canada"),
    "VN": N_("Vietnam"),
}
PROVIDERS = {
    # TRANSLATORS: company names: keep them, unless the company has a usual name in your language.
    "openai": N_("OpenAI"),
    "microsoft": N_("Microsoft"),
    "google": N_("Google"),
    "anthropic": N_("Anthropic"),
    "meta": N_("Meta"),
    "apple": N_("Apple"),
    "deepseek": N_("DeepSeek"),
    "xai": N_("xAI"),
    "mistral": N_("Mistral"),
    "perplexity": N_("Perplexity"),
    "baidu": N_("Baidu"),
    "alibaba": N_("Alibaba"),
    "bytedance": N_("ByteDance"),
    "github": N_("GitHub"),
    "amazon": N_("Amazon"),
}


@dataclass(frozen=True)
class Menu:
    """One menu: the subscriber's field it sets, its entries, and what the message says while the
    menu is open and once it is done ({chosen}: ``describe``)."""

    field: str
    entries: Mapping[str, str]  # code -> its name (a message: translated when shown)
    choosing: str
    chosen: str


MENUS = {
    "reg": Menu(
        "regions",
        REGIONS,
        N_("Alerts for regions: {chosen}. Tap to change."),
        N_("Alerts for regions: {chosen}."),
    ),
    "prov": Menu(
        "providers",
        PROVIDERS,
        N_("Alerts for providers: {chosen}. Tap to change."),
        N_("Alerts for providers: {chosen}."),
    ),
}
ALL = "*"
DONE = "done"


def label(kind: str, code: str, lang: str | None) -> str:
    """An entry's name in ``lang``: "🇨🇳 China", "🇨🇳 中国大陆", "OpenAI"; a code no longer in the
    menu as it is."""
    name = MENUS[kind].entries.get(code)
    if name is None:
        return code
    shown = translator(lang).gettext(name)
    return f"{flag(code)} {shown}" if kind == "reg" else shown


def menu(
    kind: str, chosen: tuple[str, ...], lang: str | None = None, per_row: int = 3
) -> InlineKeyboardMarkup:
    """Buttons ``<kind>:<code>`` toggle one entry, ``<kind>:*`` means all, ``<kind>:done`` closes."""
    t = translator(lang)

    def button(text: str, code: str, ticked: bool) -> InlineKeyboardButton:
        return InlineKeyboardButton(("✅ " if ticked else "") + text, callback_data=f"{kind}:{code}")

    buttons = [button(label(kind, code, lang), code, code in chosen) for code in MENUS[kind].entries]
    rows = [buttons[i : i + per_row] for i in range(0, len(buttons), per_row)]
    rows.append([button(t.gettext("All"), ALL, not chosen), button(t.gettext("Done"), DONE, False)])
    return InlineKeyboardMarkup(rows)


def toggle(chosen: tuple[str, ...], code: str) -> list[str]:
    if code == ALL:
        return []
    return sorted(set(chosen) ^ {code})


def describe(kind: str, chosen: tuple[str, ...], lang: str | None = None) -> str:
    """The choice in words: "🇨🇳 China, 🇭🇰 Hong Kong", or "all"."""
    if not chosen:
        return translator(lang).gettext("all")
    return listed((label(kind, c, lang) for c in chosen), translator(lang))
