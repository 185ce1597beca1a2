"""Group reports of the same event into stories.

Three kinds of evidence, each reduced to lookup keys so that joining is an indexed query, not a scan:

- ``f:`` an exact fingerprint of the normalized text (the same article under another URL);
- ``b:`` MinHash LSH bands over word/character shingles (reposts with small edits), confirmed by the
  estimated Jaccard similarity of the two signatures;
- ``e:`` the event itself, providers x region x (restriction | lift), which is language-neutral, so an
  English report joins the ITHome report of the same event; confirmed by compatible services.

All joins are bounded in time (``WINDOW`` around the publication date): the same provider cutting
off the same region again months later is a new story.
"""

from __future__ import annotations

import hashlib
import re
import zlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

import numpy as np
from datasketch import MinHash

from ..models import Detection

WINDOW = timedelta(days=4)
NUM_PERM = 64
BANDS, ROWS = 16, 4  # 16 x 4 = 64: candidates from Jaccard ~0.5 up
MIN_JACCARD = 0.6
_TOKEN_RE = re.compile(r"[a-z0-9]+|[\u3400-\u9fff]")
_SHINGLE = 3


@dataclass(frozen=True)
class StoryKeys:
    """What an article contributes to story lookup."""

    keys: tuple[str, ...]
    signature: bytes  # MinHash values, uint32 little-endian; empty for texts too short to sign
    services: tuple[str, ...]
    regions: tuple[str, ...] = ()
    places: tuple[str, ...] = ()


@dataclass(frozen=True)
class Candidate:
    """A stored article that shares a key with the new one."""

    story_id: str
    key: str
    published: datetime
    signature: bytes
    services: tuple[str, ...]
    regions: tuple[str, ...] = ()
    places: tuple[str, ...] = ()


class StoryIndex(Protocol):
    """Where keys live: a dict for one ``classify`` batch, an indexed table in the store."""

    def candidates(self, keys: Sequence[str], since: datetime, until: datetime) -> list[Candidate]: ...

    def add(self, story_id: str, keys: StoryKeys, published: datetime) -> None: ...


def story_keys(normalized_text: str, detection: Detection) -> StoryKeys:
    tags = detection.tags
    tokens = _TOKEN_RE.findall(normalized_text)
    keys = ["f:" + hashlib.blake2b(" ".join(tokens).encode(), digest_size=12).hexdigest()]
    signature = b""
    if len(tokens) >= _SHINGLE + 5:
        values = _minhash(tokens)
        signature = values.astype("<u4").tobytes()
        for band in range(BANDS):
            chunk = values[band * ROWS : (band + 1) * ROWS].astype("<u4").tobytes()
            keys.append(f"b:{band}:{hashlib.blake2b(chunk, digest_size=8).hexdigest()}")
    if detection.relevant:
        scope = "lift" if "lift" in tags.actions else "res"
        who = "+".join(tags.providers)  # the whole provider set: Azure OpenAI is not OpenAI's own API
        keys.extend(f"e:{who}:{r}:{scope}" for r in tags.regions)
    return StoryKeys(tuple(keys), signature, tags.services, tags.regions, detection.places)


# Fixed seed, scheme and hash function: signatures are stored, so every process must compute the same.
_PERMUTATIONS = MinHash(num_perm=NUM_PERM, seed=7, scheme="affine32").permutations


def _minhash(tokens: list[str]) -> np.ndarray:
    shingles = {" ".join(tokens[i : i + _SHINGLE]).encode() for i in range(len(tokens) - _SHINGLE + 1)}
    mh = MinHash(num_perm=NUM_PERM, hashfunc=zlib.crc32, permutations=_PERMUTATIONS, scheme="affine32")
    mh.update_batch(list(shingles))
    return mh.hashvalues


def jaccard(a: bytes, b: bytes) -> float:
    if not a or len(a) != len(b):
        return 0.0
    va, vb = np.frombuffer(a, dtype="<u4"), np.frombuffer(b, dtype="<u4")
    return float(np.count_nonzero(va == vb)) / len(va)


def choose_story(keys: StoryKeys, candidates: Iterable[Candidate]) -> str | None:
    """The story the article belongs to, or None for a new one. Earliest matching story wins."""
    matches: list[tuple[datetime, str]] = []
    for cand in candidates:
        kind = cand.key[0]
        if kind == "f":
            ok = True
        elif kind == "b":
            ok = jaccard(keys.signature, cand.signature) >= MIN_JACCARD
        else:
            ok = _same_event(keys, cand)
        if ok:
            matches.append((cand.published, cand.story_id))
    return min(matches)[1] if matches else None


def _same_event(keys: StoryKeys, cand: Candidate) -> bool:
    """Same providers (the key says so) and action kind; services compatible; mostly the same regions,
    so a round-up of five countries' bans does not swallow each country's own story."""
    if keys.services and cand.services and not set(keys.services) & set(cand.services):
        return False
    if set(keys.places) != set(cand.places):  # Texas and the US Navy are both "US"
        return False
    mine, theirs = set(keys.regions), set(cand.regions)
    return len(mine & theirs) * 2 >= len(mine | theirs)


def new_story_id(seed: str) -> str:
    return "s-" + hashlib.blake2b(seed.encode(), digest_size=6).hexdigest()


def find_story(index: StoryIndex, keys: StoryKeys, published: datetime) -> str | None:
    """The existing story an article joins, or None."""
    return choose_story(keys, index.candidates(keys.keys, published - WINDOW, published + WINDOW))


def assign(index: StoryIndex, keys: StoryKeys, published: datetime, seed: str) -> str:
    """Join an existing story or start one (id derived from ``seed``, e.g. the canonical URL)."""
    story_id = find_story(index, keys, published) or new_story_id(seed)
    index.add(story_id, keys, published)
    return story_id


class MemoryIndex:
    """A :class:`StoryIndex` in a dict, for one batch of ``newswatch classify``."""

    def __init__(self) -> None:
        self._by_key: dict[str, list[Candidate]] = {}

    def candidates(self, keys: Sequence[str], since: datetime, until: datetime) -> list[Candidate]:
        return [c for k in keys for c in self._by_key.get(k, ()) if since <= c.published <= until]

    def add(self, story_id: str, keys: StoryKeys, published: datetime) -> None:
        for key in keys.keys:
            self._by_key.setdefault(key, []).append(
                Candidate(story_id, key, published, keys.signature, keys.services, keys.regions, keys.places)
            )
