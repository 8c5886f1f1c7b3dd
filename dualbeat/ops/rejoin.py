"""The workflow of ``dualbeat rejoin``: analyse a returning node and keep the report
(linked from its history), resolve its lost writes (re-apply or discard, then rebuild),
and let it stand by again (with the agent's retries and the checksum that proves the
pair equal). Rendering the analysis is the shell's."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from dualbeat.agent import history
from dualbeat.checksum.compare import checksum_pair
from dualbeat.checksum.report import ChecksumReport
from dualbeat.config import Config
from dualbeat.core.reasons import ReasonCode
from dualbeat.core.roles import Finding, Role
from dualbeat.core.state import Reason, RejoinAuto
from dualbeat.errors import ConfigError, DualbeatError, RefusedError, RefusedUntouched
from dualbeat.gate.window import Windows
from dualbeat.ops.port import AgentPort, Progress, command, quiet, wait_status
from dualbeat.rejoin.analysis import analyze, save
from dualbeat.rejoin.method import Method
from dualbeat.rejoin.report import Analysis, Conflict
from dualbeat.rejoin.resolve import CopyProgress, Resolution, resolve

#: How long a refused ``rejoined`` is retried: the agent decides on its latest probe and
#: the active's latest heartbeat (each at most a monitor interval old), which right after
#: a rebuild may still show the old difference.
ACCEPT_RETRY_S = 5.0
REPLICATING_WITHIN_S = 30.0


def keep(config: Config, analysis: Analysis, progress: Progress = quiet) -> Path:
    """Save the report under the node's state directory and link it from its history."""
    try:
        path = save(analysis, config)
    except OSError as exc:
        raise ConfigError(
            f"cannot save the report under {config.state_dir(analysis.node)}: {exc}"
        ) from exc
    progress(f"report saved: {path}")
    record_report(config, analysis, path, progress)
    return path


@dataclass(frozen=True)
class Resolved:
    resolution: Resolution
    rows: int  # found equal by the checksum after the node stood by again


def resolve_and_accept(
    config: Config,
    port: AgentPort,
    node: str,
    *,
    mode: str,
    include: bool,
    binlog_timeout: float,
    method: Method | None = None,
    progress: Progress = quiet,
    copy_progress: CopyProgress = lambda _d, _t: None,
) -> Resolved:
    """``--reapply`` / ``--discard``: resolve, analyse again, and accept the node back
    (``accept``'s refusals apply: anything still missing keeps it fenced)."""
    result = resolve(
        config,
        node,
        mode=mode,
        method=method,
        include=include,
        binlog_timeout=binlog_timeout,
        say=progress,
        copy_progress=copy_progress,
    )
    record_report(config, result.analysis, result.analysis_path, progress)
    if result.copy:
        progress(f"copied {result.copy.bytes} bytes: {', '.join(result.copy.databases)}")
    again = analyze(config, result.node, timeout=binlog_timeout)
    rows = accept(config, port, result.node, again.has_missing, progress)
    return Resolved(result, rows)


#: Binary-log reads of an automatic rejoin give up after this long.
AUTO_BINLOG_TIMEOUT = 120.0


def auto_resolve(config: Config, node: str, progress: Progress = quiet) -> str:
    """``[rejoin] auto``, run by NODE's own agent on its lost transactions; returns what it
    did, or raises ``RefusedUntouched`` before any change:

    - every one committed while NODE's client gate was shut, or still waiting for
      semi-sync's acknowledgement when it shut (``gate.window``, ``gate.acks``: no client
      was told it committed; the in-doubt statement of a frozen server that thawed, the
      commit caught by a link that went down): they are discarded, as ``dualbeat rejoin
      NODE --discard`` does (saved first, byte-exact);
    - else, with ``auto = "safe"``, every one a ``safe`` row change: ``--reapply``;
    - else an operator decides (a conflict never resolves itself).

    The analysis, the record and the history entries are the ones an operator's
    ``dualbeat rejoin`` writes; NODE's agent then lets it stand by (``REJOIN_AUTO``) once
    the active holds everything of NODE's."""
    analysis = analyze(config, node, timeout=AUTO_BINLOG_TIMEOUT)
    path = keep(config, analysis, progress)
    windows = Windows(config.state_dir(node))
    if (why := outside_windows(analysis, windows)) is None:

        def still_in_windows(fresh: Analysis) -> None:
            if (again := outside_windows(fresh, windows)) is not None:
                raise RefusedUntouched(f"{again}; report {path}: an operator decides")

        result = resolve(
            config, node, mode="discard", binlog_timeout=AUTO_BINLOG_TIMEOUT, say=progress,
            all_or_nothing=True, guard=still_in_windows,
        )  # fmt: skip
        record_report(config, result.analysis, result.analysis_path, progress)
        saved = result.saved_binlogs[0].parent if result.saved_binlogs else result.analysis_path
        return (
            f"discarded {result.analysis.missing_count} transaction(s) acknowledged to no "
            "client (committed while the client gate was shut, or waiting for semi-sync's "
            f"acknowledgement when it shut), saved in {saved}; "
            f"record {result.record_path}"
        )
    if config.rejoin.auto is not RejoinAuto.SAFE:
        raise RefusedUntouched(f"{why}; report {path}: an operator decides")
    unsafe = [t.gtid for t in analysis.transactions if set(t.classes) != {Conflict.SAFE}]
    if unsafe:
        raise RefusedUntouched(
            f"{len(unsafe)} of {analysis.missing_count} lost transaction(s) are not all "
            f"safe row changes (first: {unsafe[0]}); report {path}: an operator decides"
        )
    result = resolve(
        config,
        node,
        mode="reapply",
        binlog_timeout=AUTO_BINLOG_TIMEOUT,
        say=progress,
        all_or_nothing=True,
    )
    record_report(config, result.analysis, result.analysis_path, progress)
    copied = f"{result.copy.bytes} bytes copied" if result.copy else "nothing copied"
    return (
        f"re-applied {len(result.applied)} safe transaction(s) on {result.active}, "
        f"{copied}; record {result.record_path}"
    )


def outside_windows(analysis: Analysis, windows: Windows) -> str | None:
    """Why not every lost transaction of ``analysis`` is known to have been acknowledged to
    no client by a gate window, i.e. committed while the client gate was shut or still
    waiting for its acknowledgement when it shut (None: every one is, read whole from the
    binary log)."""
    if not analysis.missing_count:
        return "no lost transaction to discard"
    if analysis.unread or len(analysis.transactions) != analysis.missing_count:
        return "some lost transactions were not found in the binary logs"
    closed = windows.closed()  # read once, not once per transaction
    for t in analysis.transactions:
        if not t.complete:
            return f"{t.gtid} is not whole in the binary logs"
        if not any(w.holds(t.binlog_file, t.position, t.gtid) for w in closed):
            return (
                f"{t.gtid} ({t.binlog_file}:{t.position}) may have been acknowledged to a "
                "client (not committed while the client gate was shut, nor known to be "
                "waiting for semi-sync's acknowledgement when it shut)"
            )
    return None


def record_report(
    config: Config, analysis: Analysis, path: Path, progress: Progress = quiet
) -> None:
    """Link the report from the node's history (by path), with the agent up or down; a
    failure to link is said through ``progress``, not raised (the report is saved)."""
    lacking = f"{analysis.missing_count} transaction(s) the active lacks"
    reason = Reason(
        ReasonCode.REJOIN_REPORT,
        f"lost-writes analysis of {analysis.node} against {analysis.active}: "
        + (lacking if analysis.has_missing else "nothing the active lacks"),
        {"report": str(path), "active": analysis.active, "missing": analysis.missing}
        | analysis.summary(),
    )
    try:
        history.record(config.state_dir(analysis.node), analysis.node, reason)
    except (OSError, DualbeatError) as exc:
        progress(f"warning: the report is not linked from the history: {exc}")


def _rejoined(port: AgentPort, node: str, retry_for: float) -> None:
    deadline = time.monotonic() + retry_for
    while True:
        try:
            answer = command(port, {"cmd": "rejoined"}, f"{node}'s agent refused")
            break
        except RefusedError:
            if time.monotonic() >= deadline:
                raise
            time.sleep(0.25)
    if answer.finding != Finding.REJOIN_ACCEPTED:
        raise RefusedError(f"{node}'s agent is {answer.role} ({answer.finding}): try again")


def accept(
    config: Config,
    port: AgentPort,
    node: str,
    missing: bool,
    progress: Progress = quiet,
    *,
    compare: Callable[[Config], ChecksumReport] = checksum_pair,
    retry_for: float = ACCEPT_RETRY_S,
) -> int:
    """Let fenced ``node`` stand by and replicate again, then ``compare`` the pair; the
    rows found equal. Refused while ``node`` holds writes the active lacks, when its agent
    keeps refusing for ``retry_for`` seconds, when it does not replicate in time, or when
    the data differs."""
    if missing:
        raise RefusedError(
            f"{node} still holds transactions the active lacks (listed above): re-apply them "
            f"on the active or rebuild {node}, then run --accept again"
        )
    if port.status().role is Role.STANDBY:
        progress(f"{node} already stands by ([rejoin] auto let it)")
    else:
        _rejoined(port, node, retry_for)
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
    report = compare(config)
    if not report.equal:
        raise RefusedError(
            f"{node} rejoined, but `dualbeat checksum` finds differences: run it to see them"
        )
    return report.rows
