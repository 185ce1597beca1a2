"""Alerts go out within Telegram's limits, so Telegram never has to answer 429.

Limits (Bot FAQ): 1 message a second in a private chat, 20 a minute in a group, 30 a second
overall. The pacer is first checked on virtual time (exact and instant), then with a real
python-telegram-bot Bot against the fake Bot API, which enforces those limits with 429s.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import time
from collections.abc import Awaitable, Callable
from typing import Any

from bot.pacing import Pacer
from tests.fixtures.botapi import FakeBotAPI

PRIVATE, GROUP = 42, -100


class VirtualTime:
    """A clock and a sleep for the pacer that run instantly: when every task is waiting, time jumps
    to the earliest wake-up."""

    def __init__(self) -> None:
        self.now = 0.0
        self._sleepers: list[tuple[float, int, asyncio.Future]] = []
        self._seq = itertools.count()

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        future = asyncio.get_running_loop().create_future()
        heapq.heappush(self._sleepers, (self.now + max(seconds, 0.0), next(self._seq), future))
        await future

    def pacer(self, **kwargs: Any) -> Pacer:
        return Pacer(clock=self.clock, sleep=self.sleep, **kwargs)

    def run(self, *coroutines: Awaitable[Any]) -> list[Any]:
        async def main() -> list[Any]:
            tasks = [asyncio.ensure_future(c) for c in coroutines]
            while not all(t.done() for t in tasks):
                for _ in range(10):  # let every runnable task reach its next sleep
                    await asyncio.sleep(0)
                if self._sleepers:
                    when, _, future = heapq.heappop(self._sleepers)
                    self.now = max(self.now, when)
                    future.set_result(None)
            return [t.result() for t in tasks]

        return asyncio.run(main())


def booked(vt: VirtualTime, pacer: Pacer, chats: list[int]) -> list[tuple[float, int]]:
    """Take a slot for each chat in turn; (time the send may go, chat)."""

    async def go() -> list[tuple[float, int]]:
        times = []
        for chat in chats:
            await pacer.slot(chat)
            times.append((vt.now, chat))
        return times

    return vt.run(go())[0]


def most_in_any_window(times: list[float], window: float) -> int:
    times = sorted(times)
    best, start = 0, 0
    for end, t in enumerate(times):
        while t - times[start] >= window - 1e-9:
            start += 1
        best = max(best, end - start + 1)
    return best


# ------------------------------------------------------------------------------ the pacer, exactly


def test_a_private_chat_gets_at_most_one_message_a_second() -> None:
    vt = VirtualTime()
    times = [t for t, _ in booked(vt, vt.pacer(), [PRIVATE] * 20)]
    assert min(b - a for a, b in itertools.pairwise(times)) >= 1.0
    assert times[-1] < 19 * 1.1  # and not much slower than that


def test_a_group_gets_at_most_twenty_messages_a_minute() -> None:
    vt = VirtualTime()
    times = [t for t, _ in booked(vt, vt.pacer(), [GROUP] * 100)]
    assert most_in_any_window(times, 60.0) <= 20
    assert most_in_any_window(times, 60.0) >= 19


def test_many_chats_together_get_at_most_thirty_messages_a_second() -> None:
    vt = VirtualTime()
    times = [t for t, _ in booked(vt, vt.pacer(), list(range(1, 1001)))]
    assert most_in_any_window(times, 1.0) <= 30
    assert 1000 / times[-1] >= 27  # 90 % of Telegram's 30/s


def test_a_429_pauses_every_chat_for_its_retry_after() -> None:
    vt = VirtualTime()
    pacer = vt.pacer()

    async def go() -> list[float]:
        await pacer.slot(1)
        pacer.pause(7.0)  # Telegram answered 429, retry_after 7
        times = []
        for chat in (2, 3, -5):
            await pacer.slot(chat)
            times.append(vt.now)
        return times

    assert min(vt.run(go())[0]) >= 7.0


def test_a_chat_waiting_for_its_turn_does_not_hold_up_the_others() -> None:
    vt = VirtualTime()
    pacer = vt.pacer()
    done: dict[str, float] = {}

    async def group_twice() -> None:
        await pacer.slot(GROUP)
        await pacer.slot(GROUP)  # waits ~3 s for the group's own turn
        done["group"] = vt.now

    async def private_soon() -> None:
        await vt.sleep(0.5)
        await pacer.slot(PRIVATE)
        done["private"] = vt.now

    vt.run(group_twice(), private_soon())
    assert done["private"] < 0.6
    assert done["group"] >= 3.0


# ----------------------------------------------------- real python-telegram-bot against the fake server


def test_alerts_to_a_private_chat_arrive_at_most_one_a_second(
    add_story: Callable[..., str], subscribe, deliver
) -> None:
    # a burst of 1: the fake answers 429 to any second message in the same second
    with FakeBotAPI(private_burst=1) as strict:
        strict.add_private_chat(PRIVATE)
        subscribe(PRIVATE)
        for i in range(4):
            add_story(f"OpenAI 停止向中国大陆提供 API 服务 {i}")

        deliver(api=strict)

        assert len(strict.messages(PRIVATE)) == 4
        assert strict.too_many_requests == 0


def test_alerts_to_a_group_stay_within_twenty_a_minute(
    add_story: Callable[..., str], subscribe, deliver
) -> None:
    # 20x faster time for the server and the pacer alike, so two minutes of group limits take 6 s
    speed = 20.0
    origin = time.monotonic()

    def clock() -> float:
        return (time.monotonic() - origin) * speed

    async def sleep(seconds: float) -> None:
        await asyncio.sleep(seconds / speed)

    with FakeBotAPI(clock=clock) as fast:
        fast.add_group(GROUP, admins=[7])
        subscribe(GROUP)
        for i in range(23):
            add_story(f"OpenAI 停止向中国大陆提供 API 服务 {i}")

        deliver(api=fast, pacer=Pacer(clock=clock, sleep=sleep))

        assert len(fast.messages(GROUP)) == 23
        assert fast.too_many_requests == 0


def test_one_alert_to_many_chats_stays_within_thirty_a_second(
    botapi: FakeBotAPI, add_story: Callable[..., str], subscribe, deliver, arrivals
) -> None:
    chats = range(1, 91)
    for chat in chats:
        botapi.add_private_chat(chat)
        subscribe(chat)
    add_story("OpenAI 停止向中国大陆提供 API 服务")

    deliver()

    assert sorted(m["chat_id"] for m in botapi.sent) == list(chats)
    assert botapi.too_many_requests == 0
    sends = arrivals.sends()
    assert len(sends) / (sends[-1] - sends[0]) >= 25  # and not much below the limit either
