"""The bot's own words in the chat's language: one gettext catalog per language, read at import.

Replies, keyboard labels, the frame around an alert and digest headings are written in English in
the code, marked for extraction — ``t.gettext("…")``, ``t.ngettext(…)``, or ``N_("…")`` for a table
entry translated where it is shown — and translated with the catalog of ``translator(lang)``. Story
content (titles, summaries, outlet names) is never translated: it is what the outlets wrote.

Babel extracts the marked messages and compiles ``bot/locale/<catalog>/LC_MESSAGES/newswatch.po``
into the ``.mo`` next to it (``make i18n``); both are committed, so any install (``pip install``, the
container's wheel) has them without Babel, and at run time only the standard library's gettext reads
them. They are read when this module is imported: a missing ``.mo`` stops the bot at start rather
than at its first reply, and rendering never touches the disk.
"""

from __future__ import annotations

import gettext
from pathlib import Path

from telegram import Update

from newswatch.storage import subscribers
from newswatch.storage.subscribers import Subscriber

DOMAIN = "newswatch"
LOCALE_DIR = Path(__file__).with_name("locale")
CATALOGS = {"zh": "zh_Hans", "en": "en"}  # a subscriber's language -> its catalog's locale
DEFAULT = "en"  # the language of a chat that has none yet, and of the messages in the code
Translator = gettext.GNUTranslations


def _load(lang: str) -> Translator:
    with (LOCALE_DIR / CATALOGS[lang] / "LC_MESSAGES" / f"{DOMAIN}.mo").open("rb") as compiled:
        return gettext.GNUTranslations(compiled)


_TRANSLATORS = {lang: _load(lang) for lang in subscribers.LANGS}


def translator(lang: str | None) -> Translator:
    """The catalog of ``lang`` ("zh" or "en"); English when no language is known yet (None)."""
    return _TRANSLATORS[lang or DEFAULT]


def language(update: Update, subscriber: Subscriber | None = None) -> str:
    """The language to answer in: the subscriber's (chosen with /lang, or taken from Telegram on
    /start); for a chat that never subscribed, the Telegram user's ``language_code`` (zh… -> zh)."""
    if subscriber is not None and subscriber.lang:
        return subscriber.lang
    user = update.effective_user
    return subscribers.lang_of(user.language_code if user else None)


def N_(message: str) -> str:
    """Marks ``message`` for extraction where it cannot be translated yet (a table built at import);
    the code that shows it translates it then, with ``t.gettext(message)``."""
    return message
