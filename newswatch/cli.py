"""The ``newswatch`` command: run, crawl, classify, sources.

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
from typing import IO, Any

from sqlalchemy import select

from . import config as cfg
from .models import Tags

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

    sources = sub.add_parser("sources", parents=[common], help="list sources with their poll status")
    sources.set_defaults(handler=cmd_sources)
    return parser


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


def _open_store(config: cfg.Config) -> Any:
    """The store's engine, migrated; a store that cannot be opened is one line, not a traceback."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import SQLAlchemyError

    from .storage import connect
    from .storage.db import SchemaTooNew

    try:
        return connect(config.storage_url)
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
        story = assign(index, keys, published, str(item.get("id") or item.get("url") or lineno))
        out = {
            "id": item.get("id"),
            "relevant": detection.relevant,
            "score": detection.score,
            "tags": detection.tags.as_dict(),
            "story": story,
        }
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
        error = (state.last_error or "")[:80] if state.failures else ""
        print(
            f"{source.name:<16} {source.kind:<7} {_duration(source.interval):>6}  {last:<17} {status:<14} "
            f"{counts.get(source.name, 0):>8}  {error}"
        )
    return 0


def _duration(seconds: float) -> str:
    for unit, size in (("h", 3600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{int(seconds // size)}{unit}"
    return f"{seconds:g}s"


# --- run ---------------------------------------------------------------------------------------


def cmd_run(args: argparse.Namespace) -> int:
    from .detect.vocabulary import VocabularyError, build
    from .service import run

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
    return run(config, args.role)


if __name__ == "__main__":
    sys.exit(main())
