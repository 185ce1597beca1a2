"""The ``newswatch`` command: run, crawl, classify, sources, tracker.

Operator mistakes (a bad config, an unknown source, an unreadable file) end with one line on stderr
and exit status 2, never a traceback.
"""

from __future__ import annotations

import argparse
import json
import sys
import warnings
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from http import HTTPStatus
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from sqlalchemy import select

from . import config as cfg
from .models import Tags

if TYPE_CHECKING:
    from scrapers.check import Check

    from .tracker import Record

EXIT_USAGE = 2


class UsageError(Exception):
    """A problem the operator can fix; printed as one line, exit status 2."""


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    warnings.showwarning = _warning_line
    try:
        return args.handler(args)
    except (cfg.ConfigError, UsageError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # `newswatch classify ... | head`
        return 0


def _warning_line(message, category, filename, lineno, file=None, line=None) -> None:
    print(f"warning: {message}", file=sys.stderr)


def _parser() -> argparse.ArgumentParser:
    # --config is accepted before or after the command: `newswatch --config X crawl` and
    # `newswatch crawl --all --config X`; the copy on each command only sets it when given there.
    config_help = f"config file (default: ${cfg.CONFIG_ENV} or ./{cfg.DEFAULT_CONFIG})"
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--config", metavar="PATH", default=argparse.SUPPRESS, help=config_help)
    parser = argparse.ArgumentParser(prog="newswatch", description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", metavar="PATH", help=config_help)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = sub.add_parser(
        "run", parents=[common], help="poll sources, detect stories and serve Telegram subscribers"
    )
    run.add_argument(
        "--role",
        choices=("all", "scheduler", "crawler", "delivery"),
        default="all",
        help="what this process does (default: all of it, on one machine; see deploy/README.md)",
    )
    run.set_defaults(handler=cmd_run)

    crawl = sub.add_parser("crawl", parents=[common], help="poll sources now and store new articles")
    crawl.add_argument("sources", nargs="*", metavar="SOURCE")
    crawl.add_argument("--all", action="store_true", help="every enabled source")
    crawl.add_argument("--quiet", action="store_true", help="print only the summary line")
    crawl.add_argument("--log-level", default="WARNING", help="Scrapy log level (default: WARNING)")
    crawl.set_defaults(handler=cmd_crawl)

    classify = sub.add_parser(
        "classify", parents=[common], help="classify JSON Lines articles (stdin or FILE)"
    )
    classify.add_argument("file", nargs="?", default="-", metavar="FILE")
    classify.set_defaults(handler=cmd_classify)

    sources = sub.add_parser(
        "sources",
        parents=[common],
        help="list sources with their poll status; import, export, check",
        description="Without an ACTION: each source's last poll, status, articles and last error.",
    )
    sources.set_defaults(handler=cmd_sources)
    actions = sources.add_subparsers(dest="action", metavar="ACTION")
    imported = actions.add_parser(
        "import", parents=[common], help="append the feeds of an OPML file to the config's [[sources]]"
    )
    imported.add_argument("file", metavar="FILE")
    imported.add_argument("--dry-run", action="store_true", help="show what would change, change nothing")
    imported.add_argument(
        "--kind", choices=cfg.SOURCE_KINDS, default="rss", help="kind of the new sources (ITHome: ithome)"
    )
    imported.add_argument("--interval", default="15m", help="polling interval of the new sources (15m)")
    imported.set_defaults(handler=cmd_sources_import)
    exported = actions.add_parser("export", parents=[common], help="write the sources as OPML 2.0 to stdout")
    exported.set_defaults(handler=cmd_sources_export)
    checked = actions.add_parser(
        "check", parents=[common], help="fetch URL once with the crawl settings and say what it is"
    )
    checked.add_argument("url", metavar="URL")
    checked.add_argument(
        "--kind", choices=cfg.SOURCE_KINDS, help="read it as this kind (default: ithome for ITHome, else rss)"
    )
    checked.add_argument(
        "--newest", type=_count, default=5, metavar="N", help="entries to run the detector on (5)"
    )
    checked.add_argument("--log-level", default="ERROR", help="Scrapy log level (default: ERROR)")
    checked.set_defaults(handler=cmd_sources_check)

    demo = sub.add_parser(
        "demo",
        help="the whole pipeline, offline, on a bundled local news site, in about 30 s",
        description="Runs the service on a local news site, publishes a short script of news on it and "
        "prints the alerts as Telegram would show them. Needs no config, network or bot token.",
    )
    demo.add_argument(
        "--keep", metavar="DIR", type=Path, help="keep the config and store in DIR (new or empty)"
    )
    demo.set_defaults(handler=cmd_demo)

    tracker = sub.add_parser(
        "tracker", parents=[common], help="what is restricted where, since when: the current table"
    )
    tracker.add_argument("--provider", metavar="P", help="a provider or service, e.g. deepseek or chatgpt")
    tracker.add_argument("--region", metavar="R", help="a region code or name, e.g. CN")
    tracker.add_argument("--json", action="store_true", help="the records as a JSON array")
    tracker.set_defaults(handler=cmd_tracker)
    return parser


def _count(value: str) -> int:
    if not value.isdigit():
        raise argparse.ArgumentTypeError(f"not a count: {value!r}")
    return int(value)


# --- crawl -------------------------------------------------------------------------------------


def cmd_crawl(args: argparse.Namespace) -> int:
    from scrapers.runner import crawl

    from .storage import schema

    config = cfg.load(args.config)
    if args.all:
        names = [s.name for s in config.sources if s.enabled]
    elif args.sources:
        names = list(dict.fromkeys(args.sources))
        for name in names:
            config.source(name)
    else:
        raise UsageError("name one or more sources, or --all (see `newswatch sources`)")
    if not names:
        raise UsageError(f"{config.path}: no enabled sources")
    engine = _open_store(config)
    started = datetime.now(UTC)
    report = crawl(config, names, log_level=args.log_level.upper())
    if not args.quiet:
        query = (
            select(schema.articles)
            .where(schema.articles.c.fetched >= started, schema.articles.c.source.in_(names))
            .order_by(schema.articles.c.id)
        )
        with engine.connect() as conn:
            for row in conn.execute(query).mappings():
                print(_article_line(row))
        for name, reason in report.failed.items():
            print(f"FAILED {name}: {reason}")
    failed = f", {len(report.failed)} failed ({', '.join(report.failed)})" if report.failed else ", 0 failed"
    print(f"{report.new} new, {report.known} already known{failed}")
    return 1 if report.failed else 0


def _open_store(config: cfg.Config, *, writable: bool = False, **connect_args: Any) -> Any:
    """The store's engine, migrated; a store that cannot be opened (or, with ``writable``, written:
    read-only, immutable, locked out) is one line, not a traceback."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import SQLAlchemyError

    from .storage import connect
    from .storage.db import SchemaTooNew, check_writable

    try:
        engine = connect(config.storage_url, **connect_args)
        if writable:
            check_writable(engine)
        return engine
    except SchemaTooNew as exc:
        raise UsageError(f"{config.path}: storage.url: {exc}") from None
    except (SQLAlchemyError, OSError) as exc:
        reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
        where = make_url(config.storage_url).render_as_string(hide_password=True)
        raise UsageError(f"{config.path}: storage.url: cannot open {where}: {reason}") from None


def _article_line(row: Any) -> str:
    when = row["published"] or row["fetched"]
    tags = Tags.from_dict(row["tags"])
    verdict = "-"
    if row["relevant"]:
        verdict = f"RELEVANT {row['score']:.2f} [{_tag_text(tags)}]"
    if row["watched"]:
        verdict += f" watched: {', '.join(row['watched'])}"
    return (
        f"{row['source']}  {when:%Y-%m-%d %H:%M}Z  {row['title']}  {row['url']}  {verdict}  {row['story_id']}"
    )


def _tag_text(tags: Tags) -> str:
    parts = [",".join(tags.providers + tags.services), ",".join(tags.regions), ",".join(tags.actions)]
    return " | ".join(p or "?" for p in parts)


# --- classify ----------------------------------------------------------------------------------


def cmd_classify(args: argparse.Namespace) -> int:
    from scrapers.normalize import parse_time

    from .detect.pipeline import Detector
    from .detect.stories import MemoryIndex, assign

    config = cfg.load(args.config)
    detector = Detector.from_config(config)
    index = MemoryIndex()
    bad = 0
    for lineno, item in _json_lines(args.file):
        if isinstance(item, str):
            print(f"{args.file}:{lineno}: skipped: {item}", file=sys.stderr)
            bad += 1
            continue
        detection, keys = detector.analyze(item["title"], item.get("text") or "")
        published = parse_time(str(item.get("published") or "")) or datetime.now(UTC)
        story, placement = assign(index, keys, published, str(item.get("id") or item.get("url") or lineno))
        out = {
            "id": item.get("id"),
            "relevant": detection.relevant,
            "score": detection.score,
            "tags": detection.tags.as_dict(),
            "effective": detection.effective.isoformat() if detection.effective else None,
            "story": story,
        }
        if placement.change:  # the story starts here and changes the status of an earlier one
            out["change"], out["parent"] = placement.change, placement.parent_id
        if detection.watched:
            out["watched"] = list(detection.watched)
        print(json.dumps(out, ensure_ascii=False))
    return 1 if bad else 0


def _json_lines(path: str) -> Iterator[tuple[int, dict[str, Any] | str]]:
    """(line number, object) or (line number, why it is unusable) for each non-blank line."""
    stream: IO[str]
    try:
        stream = sys.stdin if path == "-" else open(path, encoding="utf-8", errors="replace")  # noqa: SIM115
    except OSError as exc:
        raise UsageError(f"{path}: {exc.strerror}") from None
    with stream:
        for lineno, line in enumerate(stream, 1):
            if not line.strip():
                continue
            try:
                item = json.loads(line)
            except json.JSONDecodeError as exc:
                yield lineno, f"not JSON ({exc.msg})"
                continue
            if not isinstance(item, dict):
                yield lineno, "not a JSON object"
            elif not isinstance(item.get("title"), str) or not item["title"].strip():
                yield lineno, 'missing "title"'
            elif not isinstance(item.get("text", ""), str | None):
                yield lineno, '"text" must be a string'
            else:
                yield lineno, item


# --- sources -----------------------------------------------------------------------------------


def cmd_sources(args: argparse.Namespace) -> int:
    from .storage import articles, sources

    config = cfg.load(args.config)
    engine = _open_store(config)
    states = sources.all_states(engine)
    counts = articles.count_by_source(engine)
    print(
        f"{'source':<16} {'kind':<7} {'every':>6}  {'last poll':<17} {'status':<14} {'articles':>8}"
        "  last error"
    )
    for source in config.sources:
        state = states.get(source.name) or sources.SourceState(source.name)
        last = f"{state.last_poll:%Y-%m-%d %H:%M}Z" if state.last_poll else "-"
        status = state.status if source.enabled else "disabled"
        error = (state.last_error or "")[:80] if state.failures or state.article_failures else ""
        print(
            f"{source.name:<16} {source.kind:<7} {_duration(source.interval):>6}  {last:<17} {status:<14} "
            f"{counts.get(source.name, 0):>8}  {error}"
        )
    return 0


def cmd_sources_import(args: argparse.Namespace) -> int:
    from . import configedit, opml

    config = cfg.load(args.config)
    try:
        cfg.parse_duration(args.interval)
    except ValueError:
        raise UsageError(
            f'--interval: must be a duration like 900, "90s", "15m" or "1h" (got {args.interval!r})'
        ) from None
    try:
        data = Path(args.file).read_bytes()
    except OSError as exc:
        raise UsageError(f"{args.file}: cannot read: {exc.strerror}") from None
    try:
        plan = configedit.plan(config, opml.read(data), args.kind, args.interval.strip(), args.file)
    except opml.OpmlError as exc:
        raise UsageError(f"{args.file}: {exc}") from None
    verb = "would add" if args.dry_run else "added"
    for source in plan.added:
        state = "" if source.enabled else "  (disabled)"
        print(f"{verb}  {source.name:<16} {source.kind:<7} {source.url}{state}")
    for url, why in plan.skipped:
        print(f"skipped  {url}: {why}")
    if plan.added and args.dry_run:  # what the real run would refuse, the dry run refuses too
        configedit.appended(config.path, config.path.read_text(encoding="utf-8"), plan.added)
    elif plan.added:
        configedit.add_sources(config.path, plan.added)
    flattened = "; OPML categories flattened" if plan.flattened else ""
    added = f"{len(plan.added)} to add" if args.dry_run else f"{len(plan.added)} added"
    summary = f"{added}, {len(plan.skipped)} skipped (duplicate URLs){flattened}"
    if args.dry_run:
        print(f"{summary}; dry run: {config.path} is unchanged")
        if plan.added:
            print(f"\nwould append to {config.path}:\n")
            print(configedit.as_toml(plan.added), end="")
    else:
        print(f"{summary}: {config.path}" if plan.added else f"{summary}; {config.path} is unchanged")
    return 0


def cmd_sources_export(args: argparse.Namespace) -> int:
    from . import opml

    config = cfg.load(args.config)
    sys.stdout.write(opml.write(config.sources, f"newswatch sources ({config.path.name})", datetime.now(UTC)))
    return 0


def cmd_sources_check(args: argparse.Namespace) -> int:
    from scrapers.check import check

    config = cfg.load(args.config)
    url = args.url.strip()
    if not cfg.is_http_url(url):
        raise UsageError(f"{args.url!r}: not an absolute http(s) URL")
    result = check(config, url, args.kind or cfg.default_kind(url), args.newest, args.log_level.upper())
    for label, value in _check_lines(result):
        print(f"{label + ':' if label else '':<17}{value}")
    return 0 if result.usable else 1


def _check_lines(result: Check) -> Iterator[tuple[str, str]]:
    """``sources check`` output: one ``label: value`` line each, stable labels."""
    yield "url", f"{result.url} (read as kind {result.kind}, with the crawl settings; nothing stored)"
    answer = result.answer
    if answer is None:
        yield "failed", result.failure or "no answer"
        yield "verdict", f"not usable: {result.problem}"
        return
    yield "status", f"{answer.status} {_reason(answer.status)}"
    hops = len(answer.redirects)
    yield "final url", answer.url + (f" (after {hops} redirect{'s' * (hops > 1)})" if hops else "")
    yield "content type", answer.content_type or "none given"
    read_as = f"read as {result.charset}" if result.charset else "not read"
    yield "charset", f"declared {result.declared_charset or 'nowhere'}, {read_as}"
    if answer.status == 200:
        yield "type", result.reading
        for alternate in result.alternates:
            yield "links to feed", alternate
    if result.parsed:
        dropped = f" ({result.promotions} promotion{'s' * (result.promotions > 1)} left out)"
        yield "entries", f"{result.entries}{dropped if result.promotions else ''}"
        dates = [f"{end} {when:%Y-%m-%d %H:%M}Z" for end, when in _ends(result.dates)]
        if result.undated:
            dates.append(f"{result.undated} without a date")
        yield "dates", ", ".join(dates) or "-"
    if answer.status == 200:
        validators = {"ETag": answer.etag, "Last-Modified": answer.last_modified}
        yield "validators", "; ".join(f"{k} {v}" for k, v in validators.items() if v) or "none"
        yield "conditional get", _revalidation(result)
    if result.newest:
        yield "detector", f"newest {len(result.newest)}, on {result.basis}"
        for verdict in result.newest:
            d = verdict.detection
            when = f"{verdict.published:%Y-%m-%d %H:%M}Z" if verdict.published else "-"
            watched = f" watched: {', '.join(d.watched)}" if d.watched else ""
            relevant = f"{'RELEVANT' if d.relevant else 'no':<8} {d.score:.2f} [{_tag_text(d.tags)}]"
            yield "", f"{when:<17}  {relevant}{watched}  {verdict.title}  {verdict.link}"
    yield "verdict", f'usable as kind = "{result.kind}"' if result.usable else f"not usable: {result.problem}"


def _ends(dates: list[datetime]) -> list[tuple[str, datetime]]:
    """The newest and the oldest of dates sorted newest first; none of an empty list."""
    return [("newest", dates[0]), ("oldest", dates[-1])] if dates else []


def _revalidation(result: Check) -> str:
    if not result.revalidated:
        return "not possible: no ETag or Last-Modified, so every poll downloads the whole body"
    if result.revalidation is None:
        return f"unknown: the second request failed: {result.revalidation_failure}"
    status = result.revalidation.status
    headers = {"If-None-Match": result.answer.etag, "If-Modified-Since": result.answer.last_modified}
    sent = " and ".join(name for name, value in headers.items() if value)
    outcome = "yes" if status == 304 else "no"
    return f"{outcome}: one more request, with {sent}, answered {status} {_reason(status)}"


def _reason(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return ""


def _duration(seconds: float) -> str:
    for unit, size in (("h", 3600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{int(seconds // size)}{unit}"
    return f"{seconds:g}s"


# --- demo --------------------------------------------------------------------------------------


def cmd_demo(args: argparse.Namespace) -> int:
    from .demo.runner import main as demo

    keep = args.keep
    if keep is not None and keep.exists() and (not keep.is_dir() or any(keep.iterdir())):
        raise UsageError(f"--keep {keep}: must be a new or empty directory (the demo starts a new store)")
    return demo(keep.resolve() if keep else None)


# --- tracker -----------------------------------------------------------------------------------


def cmd_tracker(args: argparse.Namespace) -> int:
    from . import tracker

    config = cfg.load(args.config)
    vocabulary = tracker.vocabulary_for(config)
    try:  # names first: a typo is refused before the store is opened
        for name, resolve in (
            (args.provider, tracker.resolve_provider),
            (args.region, tracker.resolve_region),
        ):
            if name is not None:
                resolve(name, vocabulary)
    except tracker.UnknownName as exc:
        raise UsageError(f"{exc} (see newswatch/detect/vocabulary.toml)") from None
    records = tracker.select(
        tracker.current(_open_store(config), config), args.provider, args.region, vocabulary
    )
    if args.json:
        print(json.dumps([record.as_dict() for record in records], ensure_ascii=False, indent=1))
        return 0
    if not records:
        print("Nothing tracked matches.")
        return 0
    print(_TRACKER_ROW.format("subject", "region", "audience", "status", "since", "effective"))
    for record in records:
        print(
            _TRACKER_ROW.format(
                tracker.label(record.subject, vocabulary)[:24],
                record.region,
                record.audience or "everyone",
                record.status,
                record.since.isoformat(),
                record.effective.isoformat() if record.effective else "-",
            )
        )
        print(f"    {_history_line(record)}")
    return 0


_TRACKER_ROW = "{:<24} {:<6} {:<22} {:<10} {:<10} {}"


def _history_line(record: Record) -> str:
    """ "2023-03-31 restricted (Garante order…) → 2023-04-28 lifted (…)", and how many reports."""
    steps = " → ".join(
        f"{change.on} {change.status} ({_clip(change.event.title, 60)})" for change in record.history
    )
    reports = len(record.events) - len(record.history)
    return steps + (f"  [+{reports} report{'s' if reports > 1 else ''}]" if reports else "")


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


# --- run ---------------------------------------------------------------------------------------


def cmd_run(args: argparse.Namespace) -> int:
    from .detect.vocabulary import VocabularyError, build
    from .service import run
    from .storage.db import SMALL_CACHE_KIB
    from .tracker import config_events

    config = cfg.load(args.config)
    if args.role in ("all", "crawler"):
        # A bad [vocabulary] is refused now, not in every crawl. Only the vocabulary is built: the
        # detector itself lives in the crawl workers, and would cost the service 50 MB (numpy).
        try:
            build(config.vocabulary)
        except VocabularyError as exc:
            raise cfg.ConfigError(f"{config.path}: {exc}") from None
    if args.role in ("scheduler", "crawler"):
        from .jobqueue import conninfo

        try:
            conninfo(config.storage_url)  # those roles share a PostgreSQL store
        except ValueError as exc:
            raise cfg.ConfigError(f"{config.path}: storage.url: {exc}") from None
    config_events(config)  # a bad [[tracker.events]] is refused now, not in every /tracker
    # the crawls (in their workers) join stories; the service reads a few rows at a time
    engine = _open_store(config, writable=args.role in ("all", "delivery"), cache_kib=SMALL_CACHE_KIB)
    return run(config, args.role, engine)


if __name__ == "__main__":
    sys.exit(main())
