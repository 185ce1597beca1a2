"""One chat or one user cannot take the bot from everybody else.

``FloodGuard`` decides on a fake clock; ``PerChatUpdates`` is driven through python-telegram-bot's
own ``BaseUpdateProcessor.process_update``, which takes PTB's semaphore before our code runs.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from telegram import Chat, Message, Update, User

from bot.app import PerChatUpdates
from bot.flood import FloodGuard, Verdict


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_user_gets_a_burst_then_one_polite_refusal_then_silence() -> None:
    clock = Clock()
    guard = FloodGuard(max_backlog=100, burst=3, per_minute=6, clock=clock)

    verdicts = [guard.admit(1, 1) for _ in range(6)]

    assert verdicts == [Verdict.SERVE] * 3 + [Verdict.WARN] + [Verdict.DROP] * 2
    assert guard.admit(2, 2) is Verdict.SERVE  # another user is not affected
    clock.now += 10  # one command back every 10 s
    assert guard.admit(1, 1) is Verdict.SERVE
    assert guard.admit(1, 1) is Verdict.DROP  # still the same flood: no second polite reply
    clock.now += 30  # calm again
    assert [guard.admit(1, 1) for _ in range(4)] == [Verdict.SERVE] * 3 + [Verdict.WARN]


def test_a_chats_backlog_is_capped_and_frees_as_updates_finish() -> None:
    guard = FloodGuard(max_backlog=2, burst=100, clock=Clock())

    assert [guard.admit(-5, user) for user in (1, 2, 3)] == [Verdict.SERVE, Verdict.SERVE, Verdict.DROP]
    assert guard.done(-5) == 1
    assert guard.admit(-5, 3) is Verdict.SERVE
    assert guard.done(-5) == 1 and guard.done(-5) == 0


def test_service_messages_are_not_counted_against_anyone() -> None:
    guard = FloodGuard(max_backlog=100, burst=1, clock=Clock())

    assert [guard.admit(-5, None) for _ in range(5)] == [Verdict.SERVE] * 5


def test_idle_users_are_forgotten() -> None:
    clock = Clock()
    guard = FloodGuard(burst=2, per_minute=60, clock=clock)
    guard.admit(1, 1)
    guard.done(1)

    clock.now += 0.5
    guard.forget_idle()
    assert guard._buckets
    clock.now += 5
    guard.forget_idle()
    assert not guard._buckets


def _command(update_id: int, chat_id: int) -> Update:
    user = User(chat_id, "User", is_bot=False)
    chat = Chat(chat_id, Chat.PRIVATE)
    message = Message(update_id, datetime.now(UTC), chat, from_user=user, text="/help")
    return Update(update_id, message=message)


def test_one_chats_backlog_never_holds_the_slots_other_chats_need() -> None:
    """PTB takes its semaphore first; ours comes after the chat's turn, so a chat waiting for its
    own earlier updates holds no slot."""

    async def scenario() -> list[str]:
        processor = PerChatUpdates(FloodGuard(max_backlog=100, burst=100), max_concurrent_updates=2)
        release, order = asyncio.Event(), []

        async def slow(name: str) -> None:
            order.append(name)
            await release.wait()

        async def quick(name: str) -> None:
            order.append(name)

        flood = [
            asyncio.create_task(processor.process_update(_command(n, 1), slow(f"ann{n}"))) for n in range(5)
        ]
        await asyncio.sleep(0.05)
        await asyncio.wait_for(processor.process_update(_command(99, 2), quick("bob")), 1)
        release.set()
        await asyncio.gather(*flood)
        return order

    order = asyncio.run(scenario())

    assert order[:2] == ["ann0", "bob"]
    assert order[2:] == [f"ann{n}" for n in range(1, 5)]  # Ann's, in order
