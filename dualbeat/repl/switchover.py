"""The checks before a planned switchover: which findings of ``repl check`` make the pair
unfit to move the active role, and why each matters.

The switchover itself belongs to the agents (``Command.SWITCHOVER``); the workflow around
it (these checks, the command, the wait) is ``dualbeat.ops.switchover``, which the CLI and
the HTTP API both run.
"""

from __future__ import annotations

from dataclasses import dataclass

from dualbeat.config import Config
from dualbeat.repl.check import CheckResult, Status
from dualbeat.repl.inspect import inspect_pair

# The checks that must be OK before a switchover, and why each matters. Replication checks
# count on the target only: it must be applying from the active; the active's own channel
# from the standby matters for the ring, not for a lossless move.
BLOCKING = {
    "errant_transactions": "the standby holds transactions the active lacks",
    "io_thread": "a replication I/O thread is not running",
    "sql_thread": "a replication SQL thread is not running",
    "auto_increment": "the auto_increment offsets would let both servers use the same keys",
    "server_id": "the server ids are not distinct",
    "writers": "there is not exactly one writer now",
    "lag": "the standby is behind by more than replication.max_lag",
    "replication": "replication is not configured both ways",
}


_TARGET_ONLY = {"io_thread", "sql_thread", "lag", "replication"}


@dataclass(frozen=True)
class Preflight:
    active: str
    target: str
    findings: tuple[CheckResult, ...]

    @property
    def blockers(self) -> list[CheckResult]:
        return [
            f
            for f in self.findings
            if f.check in BLOCKING
            and f.status is not Status.OK
            and (f.node in ("pair", self.target) or f.check not in _TARGET_ONLY)
        ]

    def explain(self) -> list[str]:
        return [
            f"{f.node}: {BLOCKING[f.check]} ({f.detail})" + (f"; {f.hint}" if f.hint else "")
            for f in self.blockers
        ]


def preflight(config: Config, active: str, target: str) -> Preflight:
    """Live checks of the pair as it is now (both servers over SQL)."""
    return Preflight(active, target, tuple(inspect_pair(config, active=active)))
