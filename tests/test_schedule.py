"""Quiet hours, daily digests and timezones: what users may type, and when a held alert goes out.

Pure: every instant is given, none is read from the machine's clock. DST is zoneinfo's, on real
transition nights (New York springs forward 2025-03-09 02:00, Berlin falls back 2025-10-26 03:00).
"""

from __future__ import annotations

from datetime import UTC, datetime, time
from zoneinfo import ZoneInfo

import pytest

from bot.schedule import (
    EmptyWindow,
    Quiet,
    Schedule,
    Unparsable,
    default_tz,
    parse_digest,
    parse_quiet,
    parse_tz,
)
from newswatch.storage.subscribers import Subscriber

SHANGHAI, NEW_YORK, BERLIN = (
    ZoneInfo("Asia/Shanghai"),
    ZoneInfo("America/New_York"),
    ZoneInfo("Europe/Berlin"),
)


def local(text: str, tz: ZoneInfo, fold: int = 0) -> datetime:
    """ "2025-12-01 23:30" on the wall clock of ``tz``, as an aware UTC instant."""
    return datetime.fromisoformat(text).replace(tzinfo=tz, fold=fold).astimezone(UTC)


# ---------------------------------------------------------------------------------- what users type


@pytest.mark.parametrize(
    "text, start, end",
    [
        ("23:00-08:00", time(23), time(8)),
        ("9:30-17:45", time(9, 30), time(17, 45)),
        ("00:00 - 06:00", time(0), time(6)),
        ("22:00–07:00", time(22), time(7)),  # an en dash, as phones write it
        ("２３：００－０８：００", time(23), time(8)),  # full width, as Chinese keyboards type it
        ("23:00~08:00", time(23), time(8)),
    ],
)
def test_quiet_hours_are_two_times_of_a_24_hour_clock(text: str, start: time, end: time) -> None:
    assert parse_quiet(text) == Quiet(start, end)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "23-08",
        "23:00",
        "11pm-8am",
        "24:00-08:00",
        "23:60-08:00",
        "23:00-08:00-09:00",
        "<b>",
        "23:00 08:00",
    ],
)
def test_other_quiet_hours_are_refused(text: str) -> None:
    with pytest.raises(Unparsable):
        parse_quiet(text)


def test_quiet_hours_that_end_when_they_start_are_refused() -> None:
    with pytest.raises(EmptyWindow):
        parse_quiet("08:00-08:00")


def test_quiet_hours_read_back_as_they_are_stored() -> None:
    assert str(parse_quiet("9:05-7:00")) == "09:05-07:00"


@pytest.mark.parametrize(
    "text, at", [("daily 09:00", time(9)), ("Daily 7:30", time(7, 30)), ("daily  23:59", time(23, 59))]
)
def test_a_daily_digest_has_a_time(text: str, at: time) -> None:
    assert parse_digest(text) == at


@pytest.mark.parametrize(
    "text", ["daily", "weekly 09:00", "09:00", "daily 9", "daily 25:00", "daily 09:00 x"]
)
def test_other_digests_are_refused(text: str) -> None:
    with pytest.raises(Unparsable):
        parse_digest(text)


@pytest.mark.parametrize(
    "text, name",
    [
        ("Asia/Shanghai", "Asia/Shanghai"),
        ("asia/shanghai", "Asia/Shanghai"),
        (" Europe/London ", "Europe/London"),
        ("UTC", "UTC"),
        ("America/Argentina/Buenos_Aires", "America/Argentina/Buenos_Aires"),
    ],
)
def test_timezones_are_iana_names_spelled_as_iana_spells_them(text: str, name: str) -> None:
    assert parse_tz(text) == name


@pytest.mark.parametrize(
    "text",
    ["UTC+8", "GMT+8", "+08:00", "Beijing", "Asia/Beijing", "../etc/passwd", "/etc/localtime", "localtime",
     "Factory", "Asia/", "", "x" * 1000, "Asia/Shanghai\x00", "<script>"],
)  # fmt: skip
def test_anything_but_an_iana_name_is_refused(text: str) -> None:
    with pytest.raises(Unparsable):
        parse_tz(text)


def test_the_default_timezone_is_utc_plus_8_for_chinese_and_utc_otherwise() -> None:
    assert default_tz("zh") == "Asia/Shanghai"
    assert default_tz("en") == default_tz(None) == "UTC"
    assert Schedule.of(Subscriber(1, 1, "private", lang="zh")).tz == SHANGHAI
    assert Schedule.of(Subscriber(1, 1, "private", lang="zh", tz="Europe/Berlin")).tz == BERLIN
    assert Schedule.of(Subscriber(1, 1, "private")).tz == ZoneInfo("UTC")


def test_a_stored_setting_the_code_no_longer_takes_counts_as_not_set() -> None:
    schedule = Schedule.of(Subscriber(1, 1, "private", tz="Mars/Olympus", quiet="soon", digest="weekly"))
    assert schedule == Schedule(ZoneInfo("UTC"))
    assert schedule.release(datetime(2025, 1, 1, tzinfo=UTC)) is None


# ---------------------------------------------------------------------------------- when alerts go out


def test_without_quiet_hours_or_a_digest_alerts_go_out_at_once() -> None:
    assert Schedule(SHANGHAI).release(local("2025-12-01 23:30", SHANGHAI)) is None


@pytest.mark.parametrize(
    "now, release",
    [
        ("2025-12-01 23:30", "2025-12-02 08:00"),  # after the start, same evening
        ("2025-12-02 00:10", "2025-12-02 08:00"),  # after midnight
        ("2025-12-01 23:00", "2025-12-02 08:00"),  # the first minute is quiet
        ("2025-12-02 07:59", "2025-12-02 08:00"),
    ],
)
def test_quiet_hours_that_wrap_midnight_hold_alerts_until_they_end(now: str, release: str) -> None:
    schedule = Schedule(SHANGHAI, parse_quiet("23:00-08:00"))
    assert schedule.release(local(now, SHANGHAI)) == local(release, SHANGHAI)


@pytest.mark.parametrize("now", ["2025-12-02 08:00", "2025-12-02 12:00", "2025-12-01 22:59"])
def test_outside_quiet_hours_alerts_go_out_at_once(now: str) -> None:
    assert Schedule(SHANGHAI, parse_quiet("23:00-08:00")).release(local(now, SHANGHAI)) is None


def test_quiet_hours_within_one_day() -> None:
    schedule = Schedule(BERLIN, parse_quiet("12:00-14:00"))
    assert schedule.release(local("2025-12-01 13:00", BERLIN)) == local("2025-12-01 14:00", BERLIN)
    assert schedule.release(local("2025-12-01 23:00", BERLIN)) is None


def test_quiet_hours_are_read_on_the_subscribers_clock() -> None:
    now = datetime(2025, 12, 1, 16, 0, tzinfo=UTC)  # midnight in Shanghai, 17:00 in Berlin
    assert Schedule(SHANGHAI, parse_quiet("23:00-08:00")).release(now) == datetime(
        2025, 12, 2, 0, 0, tzinfo=UTC
    )
    assert Schedule(BERLIN, parse_quiet("23:00-08:00")).release(now) is None


@pytest.mark.parametrize(
    "now, release",
    [
        ("2025-12-01 10:00", "2025-12-02 09:00"),
        ("2025-12-01 08:59", "2025-12-01 09:00"),
        ("2025-12-01 09:00", "2025-12-02 09:00"),  # today's has gone (or is going) out
        ("2025-12-31 23:30", "2026-01-01 09:00"),
    ],
)
def test_a_daily_digest_holds_every_alert_until_its_next_time(now: str, release: str) -> None:
    schedule = Schedule(BERLIN, digest=parse_digest("daily 09:00"))
    assert schedule.release(local(now, BERLIN)) == local(release, BERLIN)


def test_a_daily_digest_in_quiet_hours_waits_until_they_end() -> None:
    schedule = Schedule(SHANGHAI, parse_quiet("23:00-08:00"), parse_digest("daily 07:00"))
    assert schedule.release(local("2025-12-01 12:00", SHANGHAI)) == local("2025-12-02 08:00", SHANGHAI)
    outside = Schedule(SHANGHAI, parse_quiet("23:00-08:00"), parse_digest("daily 09:00"))
    assert outside.release(local("2025-12-01 12:00", SHANGHAI)) == local("2025-12-02 09:00", SHANGHAI)


# ---------------------------------------------------------------------------------- DST


def test_quiet_hours_ending_in_a_spring_forward_gap_end_just_after_it() -> None:
    """New York, 2025-03-09: 02:00 EST jumps to 03:00 EDT, so 02:30 never shows on the clock. The
    hours end at 02:30 read with the offset before the jump: 07:30 UTC, 03:30 EDT."""
    schedule = Schedule(NEW_YORK, parse_quiet("01:00-02:30"))
    release = schedule.release(local("2025-03-09 01:45", NEW_YORK))
    assert release == datetime(2025, 3, 9, 7, 30, tzinfo=UTC)
    assert f"{release.astimezone(NEW_YORK):%H:%M %Z}" == "03:30 EDT"
    assert schedule.release(release) is None  # and it is over then


def test_quiet_hours_on_a_fall_back_night_end_at_the_first_pass_after_the_alert() -> None:
    """Berlin, 2025-10-26: 03:00 CEST falls back to 02:00 CET, so 02:00-03:00 happens twice."""
    schedule = Schedule(BERLIN, parse_quiet("23:00-02:30"))
    first = local("2025-10-26 02:15", BERLIN, fold=0)  # 00:15 UTC, CEST
    assert schedule.release(first) == datetime(2025, 10, 26, 0, 30, tzinfo=UTC)  # 02:30 CEST
    second = local("2025-10-26 02:15", BERLIN, fold=1)  # 01:15 UTC, CET: quiet again on the clock
    assert schedule.release(second) == datetime(2025, 10, 26, 1, 30, tzinfo=UTC)  # 02:30 CET
    assert schedule.release(local("2025-10-26 02:45", BERLIN, fold=0)) is None


def test_a_daily_digest_on_a_fall_back_night_comes_once() -> None:
    schedule = Schedule(BERLIN, digest=parse_digest("daily 02:30"))
    first = schedule.release(local("2025-10-26 01:00", BERLIN))
    assert first == datetime(2025, 10, 26, 0, 30, tzinfo=UTC)  # 02:30 CEST, the first pass
    assert schedule.release(first) == local("2025-10-27 02:30", BERLIN)  # not 02:30 CET again


def test_a_daily_digest_at_a_time_the_clock_skips_comes_just_after_the_jump() -> None:
    schedule = Schedule(NEW_YORK, digest=parse_digest("daily 02:30"))
    release = schedule.release(local("2025-03-08 12:00", NEW_YORK))
    assert release == local("2025-03-09 02:30", NEW_YORK)  # nonexistent: zoneinfo reads it as EST
    assert f"{release.astimezone(NEW_YORK):%H:%M %Z}" == "03:30 EDT"
    assert schedule.release(release) == local("2025-03-10 02:30", NEW_YORK)
