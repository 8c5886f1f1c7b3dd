"""The event loop's inbox keeps ``asyncio.wait_for(queue.get(), timeout)``'s answers."""

from __future__ import annotations

import asyncio
import time

from dualbeat.agent.inbox import Inbox


def test_items_come_out_in_order_without_waiting() -> None:
    async def scenario() -> list[int | None]:
        inbox: Inbox[int] = Inbox()
        for n in (1, 2, 3):
            inbox.put(n)
        return [await inbox.get(1.0) for _ in range(3)]

    assert asyncio.run(scenario()) == [1, 2, 3]


def test_a_wait_ends_at_the_deadline_with_none() -> None:
    async def scenario() -> tuple[int | None, float]:
        inbox: Inbox[int] = Inbox()
        started = time.monotonic()
        got = await inbox.get(0.05)
        return got, time.monotonic() - started

    got, waited = asyncio.run(scenario())
    assert got is None
    assert 0.04 <= waited < 0.5


def test_a_passed_deadline_answers_none_even_with_items_waiting() -> None:
    """As ``wait_for`` with a timeout of zero: the core's wake-up is judged first."""

    async def scenario() -> tuple[int | None, int | None, int]:
        inbox: Inbox[int] = Inbox()
        inbox.put(7)
        return await inbox.get(0.0), await inbox.get(None), len(inbox)

    assert asyncio.run(scenario()) == (None, 7, 0)


def test_an_item_put_later_wakes_the_waiter_before_its_deadline() -> None:
    async def scenario() -> tuple[int | None, float]:
        loop = asyncio.get_running_loop()
        inbox: Inbox[int] = Inbox()
        loop.call_later(0.02, inbox.put, 5)
        started = time.monotonic()
        got = await inbox.get(5.0)
        return got, time.monotonic() - started

    got, waited = asyncio.run(scenario())
    assert got == 5
    assert waited < 1.0


def test_a_put_from_another_thread_through_the_loop_wakes_an_unbounded_wait() -> None:
    async def scenario() -> int | None:
        loop = asyncio.get_running_loop()
        inbox: Inbox[int] = Inbox()
        loop.run_in_executor(None, loop.call_soon_threadsafe, inbox.put, 9)
        return await inbox.get(None)

    assert asyncio.run(scenario()) == 9


def test_a_cancelled_wait_leaves_the_inbox_usable() -> None:
    async def scenario() -> int | None:
        inbox: Inbox[int] = Inbox()
        waiting = asyncio.create_task(inbox.get(None))
        await asyncio.sleep(0)
        waiting.cancel()
        await asyncio.gather(waiting, return_exceptions=True)
        inbox.put(3)
        return await inbox.get(1.0)

    assert asyncio.run(scenario()) == 3
