"""The agent's clock for everything the core compares: leases, promises, deadtime.

``CLOCK_BOOTTIME``, not ``CLOCK_MONOTONIC``: both never step with the wall clock, but
the monotonic clock stops while the host is suspended. An active that resumes from a
suspend would find its lease (or the peer's promise) still valid on a clock that did not
count the sleep, while the arbiter and the peer let the standby take over meanwhile.
"""

from __future__ import annotations

import time

CLOCK = time.CLOCK_BOOTTIME


def now() -> float:
    """Seconds since boot, suspend included."""
    return time.clock_gettime(CLOCK)
