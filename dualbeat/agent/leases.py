"""The arbiter's worker: lease actions in their own thread, each bounded by the arbiter's
``timeout`` and reported back as ``LeaseAnswered`` or ``ActionFailed``.

Why not in the actor's batch thread: a takeover's apply step may run for
``apply_timeout`` (longer than a lease), and a renewal queued behind it would let the
lease lapse under a healthy active.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable

from dualbeat.agent import clock
from dualbeat.arbiter import Arbiter, ArbiterUnavailable
from dualbeat.core.actions import AcquireLease, ReleaseLease, RenewLease
from dualbeat.core.observations import ActionDone, ActionFailed, LeaseAnswered, Observation

log = logging.getLogger("dualbeat.leases")
Post = Callable[[Observation], None]
LeaseAction = AcquireLease | RenewLease | ReleaseLease


class LeaseWorker:
    def __init__(self, arbiter: Arbiter, node: str, post: Post) -> None:
        self.arbiter, self.node, self.post = arbiter, node, post
        self._queue: queue.Queue[LeaseAction | None] = queue.Queue()
        self._thread = threading.Thread(target=self._run, name="dualbeat-arbiter", daemon=True)
        self._thread.start()

    def submit(self, action: LeaseAction) -> None:
        self._queue.put(action)

    def close(self, timeout: float = 2.0) -> None:
        """Stop the worker; the key is not released (its lease runs out by itself), so a
        stopping active never invites the peer while it may still be writable."""
        self._queue.put(None)
        self._thread.join(timeout)
        self.arbiter.close()

    def _run(self) -> None:
        while (action := self._queue.get()) is not None:
            started = clock.now()
            try:
                outcome = self._do(action)
            except ArbiterUnavailable as exc:
                log.warning("%s failed: %s", type(action).__name__, exc)
                outcome = ActionFailed(action, f"arbiter unavailable: {exc}")
            log.debug(
                "%s answered in %.0f ms", type(action).__name__, (clock.now() - started) * 1e3
            )
            self.post(outcome)

    def _do(self, action: LeaseAction) -> Observation:
        match action:
            case AcquireLease(epoch=epoch):
                grant = self.arbiter.acquire(self.node, epoch)
                if grant is not None:
                    return LeaseAnswered(action, grant.valid_until)
                view = self.arbiter.view()
                return LeaseAnswered(action, None, view.holder, view.epoch)
            case RenewLease():
                grant = self.arbiter.renew()
                return LeaseAnswered(action, grant.valid_until if grant else None)
            case ReleaseLease():
                self.arbiter.release()
                return ActionDone(action)
