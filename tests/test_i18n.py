"""The catalogs are complete and compiled: every message the bot's code marks has a Chinese
translation that is not fuzzy, keeps the message's placeholders and markup, and is in the committed
``.mo`` the bot reads.

The messages in the code are found twice, on purpose: by Babel's extractor with the project's own
mapping (what ``make i18n`` puts in the catalogs) and by walking the code's syntax tree (which also
sees a ``t.gettext("…")`` inside an f-string, where the extractor is blind and the message would
stay English).
"""

from __future__ import annotations

import ast
import io
import re
import tomllib
from pathlib import Path

import pytest
from babel.messages.catalog import Catalog
from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.mofile import read_mo, write_mo
from babel.messages.pofile import read_po

from bot import i18n
from bot.render import ACTIONS, AUDIENCE_LABELS, REGION_CODES
from newswatch.detect.vocabulary import ACTIONS as VOCABULARY_ACTIONS
from newswatch.detect.vocabulary import build
from newswatch.models import AUDIENCES

ROOT = Path(__file__).resolve().parent.parent
BOT = ROOT / "bot"
CATALOGS = {lang: i18n.LOCALE_DIR / locale / "LC_MESSAGES" for lang, locale in i18n.CATALOGS.items()}
PLACEHOLDER = re.compile(r"\{(\w*)\}")
TAG = re.compile(r"</?\w+>")


def po(lang: str) -> Catalog:
    with (CATALOGS[lang] / f"{i18n.DOMAIN}.po").open("rb") as file:
        return read_po(file)


def mo(lang: str) -> Catalog:
    with (CATALOGS[lang] / f"{i18n.DOMAIN}.mo").open("rb") as file:
        return read_mo(file)


def extracted() -> set[str]:
    """The singular msgids Babel extracts from bot/ with the mapping in pyproject.toml."""
    mappings = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["babel"]["mappings"]
    method_map = [(m["pattern"], m["method"]) for m in mappings]
    found = extract_from_dir(str(BOT), method_map, keywords=DEFAULT_KEYWORDS)
    return {message if isinstance(message, str) else message[0] for _, _, message, _, _ in found}


def in_the_code() -> set[str]:
    """The literal first argument of every gettext, ngettext and N_ call in bot/, f-strings included."""
    found = set()
    for path in BOT.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if not isinstance(node, ast.Call) or not node.args:
                continue
            name = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
            first = node.args[0]
            if name in ("gettext", "ngettext", "N_") and isinstance(first, ast.Constant):
                found.add(first.value)
    return found


def singular(message) -> str:
    return message.id if isinstance(message.id, str) else message.id[0]


def test_babel_extracts_every_message_the_code_marks() -> None:
    code, babel = in_the_code(), extracted()
    assert len(code) > 200  # the walk finds the messages at all
    assert code - babel == set(), "marked inside an f-string? Babel cannot see these"
    assert babel - code == set()


@pytest.mark.parametrize("lang", sorted(i18n.CATALOGS))
def test_every_catalog_holds_exactly_the_messages_in_the_code(lang: str) -> None:
    catalog = {singular(m) for m in po(lang) if m.id}
    assert in_the_code() - catalog == set(), "run `make i18n`"
    assert catalog - in_the_code() == set(), "obsolete messages: run `make i18n`"


def test_every_message_has_a_chinese_translation_that_is_not_fuzzy() -> None:
    catalog = po("zh")
    assert catalog.locale_identifier == "zh_Hans" and catalog.num_plurals == 1
    untranslated = [
        singular(m)
        for m in catalog
        if m.id and (m.fuzzy or not all(m.string if isinstance(m.string, tuple) else (m.string,)))
    ]
    assert untranslated == []
    assert not catalog.fuzzy  # the header too: a fuzzy header makes gettext ignore its plural rule


def test_chinese_translations_keep_the_placeholders_and_markup() -> None:
    for message in po("zh"):
        if not message.id:
            continue
        ids = (message.id,) if isinstance(message.id, str) else message.id
        strings = (message.string,) if isinstance(message.string, str) else message.string
        wanted = set().union(*(PLACEHOLDER.findall(i) for i in ids))
        for string in strings:
            assert set(PLACEHOLDER.findall(string)) == wanted, (message.id, string)
            assert sorted(TAG.findall(string)) == sorted(TAG.findall(ids[0])), (message.id, string)


@pytest.mark.parametrize("lang", sorted(i18n.CATALOGS))
def test_the_committed_mo_is_compiled_from_the_po(lang: str) -> None:
    """Compared by content, not bytes: what the committed .mo holds is what compiling the .po now
    gives."""
    compiled = io.BytesIO()
    write_mo(compiled, po(lang))
    compiled.seek(0)

    def entries(catalog: Catalog) -> dict:
        def frozen(value):
            return value if isinstance(value, str) else tuple(value)

        return {(frozen(m.id), m.context): frozen(m.string) for m in catalog}

    assert entries(mo(lang)) == entries(read_mo(compiled)), "run `make i18n` (or `pybabel compile`)"


def test_the_bot_translates_with_the_compiled_catalogs() -> None:
    zh, en = i18n.translator("zh"), i18n.translator("en")
    assert zh.gettext("Subscribed.") == "订阅成功。" and en.gettext("Subscribed.") == "Subscribed."
    assert zh.ngettext("{count} record", "{count} records", 2) == "{count} 条记录"
    assert en.ngettext("{count} record", "{count} records", 1) == "{count} record"
    assert i18n.translator(None) is en


def test_the_words_of_tags_cover_the_detectors_vocabulary() -> None:
    """A region, action or audience detection can tag has our words for it in every language."""
    assert build().regions <= REGION_CODES
    assert set(VOCABULARY_ACTIONS) <= ACTIONS
    assert set(AUDIENCES) <= set(AUDIENCE_LABELS)
    zh = i18n.translator("zh")
    assert zh.gettext("CN") == "中国大陆" and zh.gettext("HK") == "香港" and zh.gettext("block") == "封锁"
