"""When a subscriber's alerts may go out: quiet hours, a daily digest, their timezone. Pure.

A subscriber stores three texts: ``quiet`` ("23:00-08:00"), ``digest`` ("daily 09:00") and ``tz`` (an
IANA name, or NULL for the default of their language). They are parsed here into a
:class:`Schedule`, which answers the one question fan-out asks about a new alert: does it go out now,
or is it held for a digest, and until when (:meth:`Schedule.release`)?

Quiet hours hold everything, a daily digest included: a digest whose time falls in quiet hours goes
out when they end. Local times come from zoneinfo: a wall time that a DST jump skips (02:30 on a
spring-forward night) is read with the offset before the jump, so it comes just after it (03:30);
a wall time that happens twice (a fall-back night) counts once for a daily digest, and quiet hours
end at the first pass of their end after the alert.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import cache
from typing import TypeVar
from zoneinfo import ZoneInfo, available_timezones

from newswatch.storage.subscribers import Subscriber

DEFAULT_TZ = "UTC"
LANG_TZ = {"zh": "Asia/Shanghai"}  # the default for Chinese-speaking subscribers: UTC+8
OFF = "off"
DAILY = "daily"
_CLOCK = re.compile(r"([01]?[0-9]|2[0-3]):([0-5][0-9])")
_RANGE = re.compile(rf"{_CLOCK.pattern}\s*[-–—~]\s*{_CLOCK.pattern}")
_NOT_ZONES = {"localtime", "Factory"}  # files in the zoneinfo directory that name no place
T = TypeVar("T")


class Unparsable(ValueError):
    """The text is not in the expected form (the reply shows an example)."""


class EmptyWindow(ValueError):
    """Quiet hours that start when they end: all day, or never; either way not what was meant."""


def _normalized(text: str) -> str:
    """Full-width digits and colons ("２３：００", as Chinese keyboards type them) as ASCII."""
    return " ".join(unicodedata.normalize("NFKC", text).split())


def _clock(hour: str, minute: str) -> time:
    return time(int(hour), int(minute))


@dataclass(frozen=True)
class Quiet:
    start: time
    end: time

    def __str__(self) -> str:
        return f"{self.start:%H:%M}-{self.end:%H:%M}"

    def holds(self, wall: time) -> bool:
        """Is this local wall time inside the quiet hours? They may wrap midnight."""
        if self.start < self.end:
            return self.start <= wall < self.end
        return wall >= self.start or wall < self.end


def parse_quiet(text: str) -> Quiet:
    """ "23:00-08:00" -> Quiet; raises Unparsable or EmptyWindow."""
    found = _RANGE.fullmatch(_normalized(text))
    if found is None:
        raise Unparsable(text)
    quiet = Quiet(_clock(*found.group(1, 2)), _clock(*found.group(3, 4)))
    if quiet.start == quiet.end:
        raise EmptyWindow(text)
    return quiet


def parse_digest(text: str) -> time:
    """ "daily 09:00" -> 09:00; raises Unparsable."""
    kind, _, at = _normalized(text).lower().partition(" ")
    found = _CLOCK.fullmatch(at)
    if kind != DAILY or found is None:
        raise Unparsable(text)
    return _clock(*found.groups())


@cache
def _zones() -> dict[str, str]:
    """IANA names, by their lower case: "asia/shanghai" finds "Asia/Shanghai"."""
    return {name.lower(): name for name in available_timezones() - _NOT_ZONES}


def parse_tz(text: str) -> str:
    """An IANA name, spelled as IANA spells it; raises Unparsable for anything else ("UTC+8",
    "Beijing", "../etc"): only names from the timezone database, never a path or an offset."""
    name = _zones().get(text.strip().lower())
    if name is None:
        raise Unparsable(text)
    return name


def default_tz(lang: str | None) -> str:
    return LANG_TZ.get(lang or "", DEFAULT_TZ)


@dataclass(frozen=True)
class Schedule:
    tz: ZoneInfo
    quiet: Quiet | None = None
    digest: time | None = None  # the time of the daily digest

    @classmethod
    def of(cls, subscriber: Subscriber) -> Schedule:
        """The subscriber's schedule. Their texts were checked when they set them; one the code no
        longer takes (a zone a newer tzdata dropped) counts as not set rather than stopping delivery."""
        tz = _or_none(parse_tz, subscriber.tz) or default_tz(subscriber.lang)
        quiet, digest = _or_none(parse_quiet, subscriber.quiet), _or_none(parse_digest, subscriber.digest)
        return cls(ZoneInfo(tz), quiet, digest)

    def local(self, when: datetime) -> datetime:
        return when.astimezone(self.tz)

    def release(self, now: datetime) -> datetime | None:
        """None: an alert arriving ``now`` goes out now. Otherwise the instant it is released, in a
        digest: the next daily digest (after quiet hours, if it falls in them) or the end of the
        quiet hours it arrived in."""
        if self.digest is not None:
            due = min(self._candidates(now, self.digest, folds=(0,)))  # once on a fall-back night
            return self._after_quiet(due) or due
        return self._after_quiet(now)

    def _after_quiet(self, when: datetime) -> datetime | None:
        """The end of the quiet hours ``when`` falls in; None outside them."""
        if self.quiet is None or not self._quiet_at(when):
            return None
        # the first pass of the end's wall time that is no longer quiet: in a DST gap, the reading
        # with the offset after the jump lands before it, still in the quiet hours
        ends = (t for t in self._candidates(when, self.quiet.end, folds=(0, 1)) if not self._quiet_at(t))
        return min(ends)

    def _quiet_at(self, when: datetime) -> bool:
        assert self.quiet is not None
        return self.quiet.holds(self.local(when).time())

    def _candidates(self, now: datetime, wall: time, folds: tuple[int, ...]) -> list[datetime]:
        """The instants after ``now`` at which the local clock reads ``wall``, today or tomorrow
        (and, for a fold, its second pass)."""
        today: date = self.local(now).date()
        found = []
        for day in (today, today + timedelta(days=1)):
            for fold in folds:
                instant = datetime.combine(day, wall, tzinfo=self.tz).replace(fold=fold).astimezone(UTC)
                if instant > now:
                    found.append(instant)
        return found


def _or_none(parse: Callable[[str], T], text: str | None) -> T | None:
    if text is None:
        return None
    try:
        return parse(text)
    except ValueError:
        return None
