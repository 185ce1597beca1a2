"""/tracker: what is restricted where, for the subscriber's regions and providers, page by page.

``/tracker`` covers the subscriber's choices (everything for a chat that chose all, or has not
subscribed); ``/tracker deepseek`` or ``/tracker CN`` narrows it: a named provider replaces the
provider choice, a named region the region choice. The pages are computed again on every button
press, from the store as it is then.
"""

from __future__ import annotations

from telegram import Update
from telegram.constants import ParseMode
from telegram.ext import ContextTypes

from newswatch import tracker
from newswatch.detect.vocabulary import Vocabulary
from newswatch.storage import subscribers

from . import tracker_view
from .handlers import _config, _db, _engine, _lang, _paced, reply
from .i18n import language, translator
from .render import esc, listed, region_name, visible_text

MAX_ARGUMENT = 100


async def tracker_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    vocabulary = tracker.vocabulary_for(_config(context))
    question = _asked(" ".join(context.args or ()).strip(), vocabulary)
    if question is None:
        t = translator(await _lang(update, context))
        usage = t.gettext(
            "Usage: /tracker [provider or region] — for example /tracker deepseek or /tracker CN."
        )
        await reply(update, context, esc(usage))
        return
    pages = await _pages(update, context, question, vocabulary)
    await reply(update, context, pages[0], reply_markup=tracker_view.keyboard(0, len(pages), question))


async def tracker_button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    query = update.callback_query
    vocabulary = tracker.vocabulary_for(_config(context))
    pressed = tracker_view.parse_callback(query.data)
    question = _question(*pressed[1:], vocabulary) if pressed else None
    if pressed is None or question is None:
        t = translator(await _lang(update, context))
        await query.answer(t.gettext("This button is no longer valid."))
        return
    chat_id = update.effective_chat.id
    pages = await _pages(update, context, question, vocabulary)
    page = min(pressed[0], len(pages) - 1)  # the answer may have shrunk since the button was sent
    await query.answer()
    markup = tracker_view.keyboard(page, len(pages), question)
    shown = query.message
    if shown is not None and shown.text == visible_text(pages[page]) and shown.reply_markup == markup:
        return  # the page shown, unchanged: an edit would only be refused as "not modified"
    await _paced(
        context,
        chat_id,
        lambda: query.edit_message_text(
            pages[page], parse_mode=ParseMode.HTML, reply_markup=markup, disable_web_page_preview=True
        ),
    )


def _asked(argument: str, vocabulary: Vocabulary) -> tracker.Filter | None:
    """The question ``/tracker ARGUMENT`` asks; None for a name nobody could mean."""
    if not argument:
        return tracker.Filter()
    if len(argument) > MAX_ARGUMENT:
        return None
    try:
        return tracker.resolve(argument, vocabulary)
    except tracker.UnknownName:
        return None


def _question(kind: str, value: str, vocabulary: Vocabulary) -> tracker.Filter | None:
    """The question a button asks, if its names are still known."""
    names = [*vocabulary.provider_is_ai, *vocabulary.service_providers]
    if kind == "r":
        return tracker.Filter(region=value) if value in vocabulary.regions else None
    if kind == "p":
        return tracker.Filter(provider=value) if value in names else None
    if kind == "h":
        return next((tracker.Filter(provider=n) for n in names if tracker_view.digest(n) == value), None)
    return tracker.Filter()


async def _pages(
    update: Update, context: ContextTypes.DEFAULT_TYPE, question: tracker.Filter, vocabulary: Vocabulary
) -> list[str]:
    """The answer's pages, for the chat's choices, in its language."""
    engine = _engine(context)
    records = await _db(tracker.current, engine, _config(context))
    sub = await _db(subscribers.get, engine, update.effective_chat.id)
    lang = language(update, sub)
    chosen = sub if sub is not None and sub.active else None
    regions = () if question.region or chosen is None else chosen.regions
    providers = () if question.provider or chosen is None else chosen.providers
    found = tracker_view.narrow(
        tracker.select(records, question.provider, question.region, vocabulary), regions, providers
    )
    heading = _heading(question, regions or providers, vocabulary, lang)
    return tracker_view.render_pages(found, heading, vocabulary.labels, lang)


def _heading(question: tracker.Filter, narrowed: bool, vocabulary: Vocabulary, lang: str) -> str:
    """"AI restrictions: deepseek, CN, your regions and providers": what the answer covers."""
    t = translator(lang)
    scope = [tracker.label(question.provider, vocabulary)] if question.provider else []
    scope += [region_name(question.region, t)] if question.region else []
    if narrowed:
        scope.append(t.gettext("your regions and providers"))
    if not scope:
        return t.gettext("AI restrictions")
    return t.gettext("AI restrictions: {scope}").format(scope=listed(scope, t))
