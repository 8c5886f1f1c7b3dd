"""The automatic rejoin's worker: ``AutoRejoin`` (``[rejoin] auto``) in its own
thread, reported back as ``ActionDone`` / ``ActionFailed``.

Why a thread of its own: the workflow reads binary logs and copies the active's data
(minutes on a large database), and the actor's batch thread must stay free for a demotion
or a promotion meanwhile. Bounded by the workflow's own timeouts (binary-log reads, SQL
statements, the copy's tools); at most one run at a time (the core keeps it in flight).
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable

from dualbeat.core.actions import AutoRejoin
from dualbeat.core.observations import ActionDone, ActionFailed, Observation
from dualbeat.errors import DualbeatError, RefusedUntouched

log = logging.getLogger("dualbeat.rejoin")
Post = Callable[[Observation], None]
#: The workflow: runs the rejoin, returns what it did; raises ``DualbeatError`` (or
#: ``OSError``) saying why not, having left its record (``dualbeat.ops.rejoin.auto_resolve``).
Workflow = Callable[[], str]


class RejoinWorker:
    def __init__(self, workflow: Workflow, post: Post) -> None:
        self.workflow, self.post = workflow, post
        self._queue: queue.Queue[AutoRejoin | None] = queue.Queue()
        self._thread = threading.Thread(target=self._run, name="dualbeat-rejoin", daemon=True)
        self._thread.start()

    def submit(self, action: AutoRejoin) -> None:
        self._queue.put(action)

    def close(self, timeout: float = 2.0) -> None:
        """Stop taking work; a run under way is not interrupted (each of its steps is safe
        to stop at, and the daemon thread ends with the process)."""
        self._queue.put(None)
        self._thread.join(timeout)

    def _run(self) -> None:
        while (action := self._queue.get()) is not None:
            try:
                outcome: Observation = ActionDone(action, self.workflow())
            except (DualbeatError, OSError) as exc:
                log.warning("automatic rejoin: %s", exc)
                outcome = ActionFailed(action, str(exc), isinstance(exc, RefusedUntouched))
            except Exception as exc:  # a bug must not leave the action in flight forever
                log.exception("automatic rejoin crashed")
                outcome = ActionFailed(action, f"crashed: {exc!r}")
            self.post(outcome)
