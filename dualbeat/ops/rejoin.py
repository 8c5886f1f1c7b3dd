"""The steps of ``dualbeat rejoin`` that reach the agent: linking a report from the
node's history, and letting a resolved node stand by again (with the agent's retries and
the checksum that proves the pair equal)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from dualbeat.agent import history
from dualbeat.config import Config
from dualbeat.core.roles import Role
from dualbeat.core.state import Reason
from dualbeat.errors import DualbeatError, RefusedError
from dualbeat.mysql.checksum import checksum_pair
from dualbeat.ops.port import AgentPort, Progress, command, quiet, wait_status

#: How long a refused ``rejoined`` is retried: the agent decides on its latest probe and
#: the active's latest heartbeat (each at most a monitor interval old), which right after
#: a rebuild may still show the old difference.
ACCEPT_RETRY_S = 5.0
REPLICATING_WITHIN_S = 30.0


def record_report(config: Config, analysis: Any, path: Path, progress: Progress = quiet) -> None:
    """Link the report from the node's history (by path), with the agent up or down; a
    failure to link is said through ``progress``, not raised (the report is saved)."""
    lacking = f"{analysis.missing_count} transaction(s) the active lacks"
    reason = Reason(
        "REJOIN_REPORT",
        f"lost-writes analysis of {analysis.node} against {analysis.active}: "
        + (lacking if analysis.has_missing else "nothing the active lacks"),
        {"report": str(path), "active": analysis.active, "missing": analysis.missing}
        | analysis.summary(),
    )
    try:
        history.record(config.state_dir(analysis.node), analysis.node, reason)
    except (OSError, DualbeatError) as exc:
        progress(f"warning: the report is not linked from the history: {exc}")


def accept(
    config: Config, port: AgentPort, node: str, missing: bool, progress: Progress = quiet
) -> int:
    """Let fenced ``node`` stand by and replicate again, then checksum the pair; the rows
    found equal. Refused while ``node`` holds writes the active lacks, when its agent
    keeps refusing, when it does not replicate in time, or when the checksum differs."""
    if missing:
        raise RefusedError(
            f"{node} still holds transactions the active lacks (listed above): re-apply them "
            f"on the active or rebuild {node}, then run --accept again"
        )
    deadline = time.monotonic() + ACCEPT_RETRY_S
    while True:
        try:
            answer = command(port, {"cmd": "rejoined"}, f"{node}'s agent refused")
            break
        except RefusedError:
            if time.monotonic() >= deadline:
                raise
            time.sleep(0.25)
    if answer.finding != "rejoin_accepted":
        raise RefusedError(f"{node}'s agent is {answer.role} ({answer.finding}): try again")
    standing_by = wait_status(
        port,
        lambda st: st.role is Role.STANDBY and bool(st.mysql.replicating),
        REPLICATING_WITHIN_S,
    )
    if standing_by is None:
        raise RefusedError(
            f"{node} did not start replicating within {REPLICATING_WITHIN_S:g} s; "
            "see dualbeat status"
        )
    progress(f"{node} is a standby again and replicates from the active; checksumming")
    report = checksum_pair(config)
    if not report.equal:
        raise RefusedError(
            f"{node} rejoined, but `dualbeat checksum` finds differences: run it to see them"
        )
    return report.rows
