"""The event loop's inbox: observations in order, and a wait for the next one with a deadline.

Why not ``asyncio.wait_for(queue.get(), timeout)``: on Python 3.11 that wraps every wait
in a new task, a waiter future, a timer and two done-callbacks, and each observation then
costs five turns of the event loop before ``decide`` sees it. An idle agent takes about
fifteen observations a second (beats, probes, VIP checks), so that churn was a visible
share of its CPU. Here a wait is one future and one timer, and an observation reaches the
waiting coroutine on the next turn of the loop.

The semantics are ``wait_for``'s, kept on purpose: ``get`` returns the oldest item, or
``None`` once ``timeout`` passes with none; a timeout that has already passed (zero or
less) returns ``None`` at once even with items waiting, so a wake-up time the core asked
for is judged before anything newer; when the deadline and an item come in the same turn
of the loop, whichever was signalled first wins. Loop-only: ``put`` from another thread
goes through ``loop.call_soon_threadsafe``.
"""

from __future__ import annotations

import asyncio
from collections import deque
from typing import Generic, TypeVar

T = TypeVar("T")

_ITEM, _TIMEOUT = "item", "timeout"


def _signal(waiter: asyncio.Future[str], why: str) -> None:
    if not waiter.done():
        waiter.set_result(why)


class Inbox(Generic[T]):
    def __init__(self) -> None:
        self._items: deque[T] = deque()
        self._waiter: asyncio.Future[str] | None = None

    def __len__(self) -> int:
        return len(self._items)

    def put(self, item: T) -> None:
        self._items.append(item)
        if self._waiter is not None:
            _signal(self._waiter, _ITEM)

    async def get(self, timeout: float | None) -> T | None:
        """The oldest item; ``None`` when ``timeout`` seconds pass first (see the module doc)."""
        if timeout is not None and timeout <= 0:
            return None
        if not self._items:
            loop = asyncio.get_running_loop()
            waiter = self._waiter = loop.create_future()
            timer = None if timeout is None else loop.call_later(timeout, _signal, waiter, _TIMEOUT)
            try:
                if await waiter == _TIMEOUT:
                    return None
            finally:
                self._waiter = None
                if timer is not None:
                    timer.cancel()
        return self._items.popleft()
