"""Values for ``IN (...)`` in a few list lengths, so that the database sees a few statements.

Each number of values in ``column IN (...)`` is another SQL text, and the driver keeps what it
prepared per connection: Python's sqlite3 keeps the last 128 statements of each connection, and
psycopg prepares statements it sees often. A first round of 6,000 sources asked for a shorter list
of held sources at every delivery run: the service's connections kept about 100 MB of statements
with thousands of parameters each (bench/scale). So:

- a list of any length, such as the sources whose first poll is still running, goes as one JSON
  parameter, and the statement is the same however many it holds (``listed``);
- a batch's values (URLs, keys, story ids) go in parts of at most ``CHUNK``, each padded to the next
  power of two by repeating its last value (which changes nothing for IN and NOT IN): a dozen
  lengths (``chunks``, ``padded``).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from typing import TypeVar

from sqlalchemy import JSON, Select, String, cast, func, literal, select

T = TypeVar("T")

CHUNK = 512  # values per statement where a long list is asked in parts


def padded(values: Iterable[T]) -> list[T]:
    """The distinct values, in order, with the last repeated up to a power of two in length."""
    distinct = list(dict.fromkeys(values))
    if len(distinct) < 2:
        return distinct
    return distinct + distinct[-1:] * ((1 << (len(distinct) - 1).bit_length()) - len(distinct))


def chunks(values: Iterable[T], size: int = CHUNK) -> Iterator[list[T]]:
    """The distinct values in parts of ``size`` (a power of two), each padded."""
    distinct = list(dict.fromkeys(values))
    for start in range(0, len(distinct), size):
        yield padded(distinct[start : start + size])


def listed(values: Iterable[str], dialect: str) -> Select:
    """The values as a one-column subquery of one JSON parameter, for ``column.in_(...)``."""
    document = literal(json.dumps(list(dict.fromkeys(values))), String)
    if dialect == "postgresql":
        return select(func.json_array_elements_text(cast(document, JSON)).column_valued("value"))
    return select(func.json_each(document).column_valued("value"))  # SQLite's JSON1, built in
