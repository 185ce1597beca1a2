"""Inline menus for choosing regions and providers. Pure: builds markup from the current choice."""

from __future__ import annotations

from telegram import InlineKeyboardButton, InlineKeyboardMarkup

REGIONS = {
    "CN": "🇨🇳 China",
    "HK": "🇭🇰 Hong Kong",
    "MO": "🇲🇴 Macau",
    "TW": "🇹🇼 Taiwan",
    "RU": "🇷🇺 Russia",
    "IR": "🇮🇷 Iran",
    "KP": "🇰🇵 N. Korea",
    "EU": "🇪🇺 EU",
    "US": "🇺🇸 USA",
    "GB": "🇬🇧 UK",
    "IT": "🇮🇹 Italy",
    "KR": "🇰🇷 S. Korea",
    "JP": "🇯🇵 Japan",
    "IN": "🇮🇳 India",
    "TR": "🇹🇷 Türkiye",
    "AU": "🇦🇺 Australia",
    "CA": "🇨🇦 Canada",
    "VN": "🇻🇳 Vietnam",
}
PROVIDERS = {
    "openai": "OpenAI",
    "microsoft": "Microsoft",
    "google": "Google",
    "anthropic": "Anthropic",
    "meta": "Meta",
    "apple": "Apple",
    "deepseek": "DeepSeek",
    "xai": "xAI",
    "mistral": "Mistral",
    "perplexity": "Perplexity",
    "baidu": "Baidu",
    "alibaba": "Alibaba",
    "bytedance": "ByteDance",
    "github": "GitHub",
    "amazon": "Amazon",
}
MENUS = {"reg": ("regions", REGIONS), "prov": ("providers", PROVIDERS)}
ALL = "*"
DONE = "done"


def menu(kind: str, chosen: tuple[str, ...], per_row: int = 3) -> InlineKeyboardMarkup:
    """Buttons ``<kind>:<code>`` toggle one entry, ``<kind>:*`` means all, ``<kind>:done`` closes."""
    _, labels = MENUS[kind]
    buttons = [
        InlineKeyboardButton(("✅ " if code in chosen else "") + label, callback_data=f"{kind}:{code}")
        for code, label in labels.items()
    ]
    rows = [buttons[i : i + per_row] for i in range(0, len(buttons), per_row)]
    rows.append(
        [
            InlineKeyboardButton(("✅ " if not chosen else "") + "All", callback_data=f"{kind}:{ALL}"),
            InlineKeyboardButton("Done", callback_data=f"{kind}:{DONE}"),
        ]
    )
    return InlineKeyboardMarkup(rows)


def toggle(chosen: tuple[str, ...], code: str) -> list[str]:
    if code == ALL:
        return []
    return sorted(set(chosen) ^ {code})


def describe(kind: str, chosen: tuple[str, ...]) -> str:
    _, labels = MENUS[kind]
    return ", ".join(labels.get(c, c) for c in chosen) if chosen else "all"
