"""Helpers shared by the integration tests: enter the client host, wait with deadlines."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TypeVar

from pyroute2.netns import popns, pushns

T = TypeVar("T")


@contextmanager
def inside(namespace: str) -> Iterator[None]:
    """Run the body in ``namespace``'s network (this thread only), like a process on that host.

    The servers listen only on the lab's bridge, so tests talk to them from the client
    host, exactly as an application would.
    """
    pushns(namespace)
    try:
        yield
    finally:
        popns()


def wait_for(condition: Callable[[], T | None], timeout: float, what: str, step: float = 0.1) -> T:
    """Poll ``condition`` until it returns a truthy value, or fail saying what never happened."""
    deadline = time.monotonic() + timeout
    last: T | None = None
    while time.monotonic() < deadline:
        last = condition()
        if last:
            return last
        time.sleep(step)
    raise AssertionError(f"timed out after {timeout:g} s waiting for {what} (last: {last!r})")
