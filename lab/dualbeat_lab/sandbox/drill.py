"""Failover drills on the sandbox pair: a writer through the VIP, one fault, a timeline.

One function, used by ``dualbeat sandbox drill``, the demo, the integration tests and
``bench/failover.py``, so what the tests assert and what the benchmark reports are the
same measurement.
"""

from __future__ import annotations

import enum
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dualbeat.mysql.connection import Server
from dualbeat.mysql.dialect import Statement
from dualbeat_lab import writer
from dualbeat_lab.errors import SandboxError
from dualbeat_lab.sandbox import agents, faults
from dualbeat_lab.sandbox.figures import summary
from dualbeat_lab.sandbox.lab import LabInfo, Progress
from dualbeat_lab.sandbox.timeline import Timeline, lab_event_paths, load_events, lost_writes

VIP_HOST = "10.77.0.100"


class Fault(enum.Enum):
    KILL = "kill"  # kill -9 mysqld on the active
    FREEZE = "freeze"  # SIGSTOP mysqld on the active for --hold seconds
    LINKDOWN = "linkdown"  # the active's links lose carrier for --hold seconds
    PARTITION = "partition"  # frames to/from the active dropped in the switch (no carrier loss)
    STOP_AGENT = "stop-agent"  # kill -9 the active's agent; MySQL stays up
    SWITCHOVER = "switchover"  # planned: `dualbeat switchover` run on the active


@dataclass(frozen=True)
class DrillResult:
    """One drill. ``lost`` is None when no node holds the writes to check them against
    (nobody settled as active after a fault that needs a failover): unknown, never "0"."""

    fault: Fault
    old_active: str
    new_active: str | None
    timeline: Timeline
    lost: list[int] | None
    log: Path

    @property
    def recovered(self) -> bool:
        """Writes came back *and* the right node settled as active: resumed writes alone
        (a thawed old active, with nobody in charge) are not a recovery."""
        return self.lost is not None and self.timeline.rto is not None

    def lost_text(self) -> str:
        """The loss as one line for people: a number with where it was checked, or why not."""
        checked = lost_checked_on(self.fault, self.old_active, self.new_active)
        if self.lost is None or checked is None:
            return "unknown: no node settled as active (a failed drill)"
        return f"{len(self.lost)} (checked against the writes table on {checked})"

    def as_json(self) -> dict[str, object]:
        return {
            "fault": self.fault.value,
            "old_active": self.old_active,
            "new_active": self.new_active,
            "recovered": self.recovered,
            "lost_acked_writes": None if self.lost is None else len(self.lost),
            **self.timeline.as_json(),
        }


def lost_checked_on(fault: Fault, old: str, new: str | None) -> str | None:
    """The node whose table must hold every acknowledged write: the new active, or the old
    one after ``stop-agent`` (its MySQL keeps serving: no failover is right); None when no
    node settled as active after a fault that needs one."""
    if new is not None:
        return new
    return old if fault is Fault.STOP_AGENT else None


class Tally:
    """The figures of one scenario's drills for bench/failover.py, printed as each run ends.

    A run counts as recovered only when ``DrillResult.recovered``; a run whose losses could
    not be checked adds to ``runs_lost_unknown``, never to ``acked_writes_lost`` as zero.
    """

    def __init__(self, label: str, runs: int) -> None:
        self.label, self.runs = label, runs
        self.rtos: list[float] = []
        self.gaps: list[float] = []
        self.phases: list[dict[str, Any]] = []
        self.lost = self.failures = self.lost_unknown = self.added = 0

    def add(self, result: DrillResult, extra: str = "") -> None:
        t = result.timeline
        gap = t.longest_gap.seconds if t.longest_gap else None
        self.added += 1
        lost = "unknown" if result.lost is None else len(result.lost)
        print(
            f"{self.label} run {self.added}/{self.runs}: rto={t.rto} gap={gap} lost={lost} "
            f"new_active={result.new_active}{extra}",
            file=sys.stderr,
            flush=True,
        )
        if result.recovered and t.rto is not None:
            self.rtos.append(t.rto)
        else:
            self.failures += 1
        if gap is not None:
            self.gaps.append(gap)
        if result.lost is None:
            self.lost_unknown += 1
        else:
            self.lost += len(result.lost)
        if t.promoted is not None:
            self.phases.append(dict(t.promoted.evidence))

    def result(self, **extra: Any) -> dict[str, Any]:
        return {
            "runs": self.runs,
            "rto_s": summary(self.rtos),
            "longest_write_gap_s": summary(self.gaps),
            "acked_writes_lost": self.lost,
            "runs_lost_unknown": self.lost_unknown,
            **extra,
            "runs_without_recovery": self.failures,
            "promotion_phases": self.phases,
        }


def _inject(info: LabInfo, fault: Fault, node: str) -> tuple[float, Callable[[], float]]:
    """Apply the fault; return its timestamp and how to end it (after the hold)."""
    lab = info.lab
    match fault:
        case Fault.KILL:
            return faults.kill_mysqld(lab, node), time.time
        case Fault.FREEZE:
            return faults.freeze_mysqld(lab, node), lambda: faults.thaw_mysqld(lab, node)
        case Fault.LINKDOWN:
            return faults.link_down(lab, node), lambda: faults.link_up(lab, node)
        case Fault.PARTITION:
            return faults.partition(lab, node), lambda: faults.heal(lab)
        case Fault.STOP_AGENT:
            return faults.kill_agent(lab, node), time.time
        case Fault.SWITCHOVER:
            started = time.time()
            argv = [
                "ip",
                "netns",
                "exec",
                node,
                sys.executable,
                "-m",
                "dualbeat",
                "switchover",
                "-c",
                str(info.config_path),
            ]
            done = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False)
            if done.returncode != 0:
                raise SandboxError(f"switchover failed: {done.stderr.strip() or done.stdout}")
            return started, time.time


def wait_until(condition: Callable[[], bool], timeout: float) -> bool:
    """Poll ``condition`` every 50 ms until it holds (True) or ``timeout`` passes (False)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return False


def acked_after(log: Path, at: float) -> bool:
    """True once the writer log holds an acknowledged write sent at or after ``at``."""
    return any(w.acked and w.sent_at >= at for w in writer.load_log(log))


def present_seqs(info: LabInfo, node: str) -> set[int]:
    """The writer's rows on ``node``, read through its socket as root."""
    with Server(info.node(node).root_endpoint()) as server:
        rows = server.query(Statement("SELECT seq FROM app.writes"))
    return {int(r["seq"]) for r in rows}


def run(
    info: LabInfo,
    fault: Fault,
    *,
    hold: float = 5.0,
    settle_timeout: float = 30.0,
    progress: Progress = lambda _m: None,
    profile: writer.Profile = writer.Profile.TIGHT,
) -> DrillResult:
    """Run one drill on a settled pair and return its timeline (the fault is undone).

    ``profile``: the writer's connection timeouts (tests pass ``TEST_BOUNDS``)."""
    old = agents.wait_settled(info, progress)
    drill_dir = info.lab.state_dir / "drills"
    drill_dir.mkdir(exist_ok=True)
    log = drill_dir / f"{fault.value}-{time.strftime('%Y%m%d-%H%M%S')}-writes.jsonl"
    argv = writer.command(
        VIP_HOST, info.secrets.app_password_file, log, hold + settle_timeout, profile=profile
    )
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        if not wait_until(lambda: log.exists() and acked_after(log, 0.0), 15.0):
            raise SandboxError(f"the writer acknowledged no write through {VIP_HOST}")
        progress(f"writer running through the VIP; {fault.value} on {old}")
        fault_at, end = _inject(info, fault, old)
        if fault in (Fault.FREEZE, Fault.LINKDOWN, Fault.PARTITION):
            wait_until(lambda: acked_after(log, fault_at), hold)
            time.sleep(max(0.0, fault_at + hold - time.time()))
            end()
            progress(f"{fault.value} ended after {hold:g} s")
        if not wait_until(lambda: acked_after(log, fault_at), settle_timeout):
            progress("no write succeeded through the VIP after the fault")
        new = agents.settled(info)
        wait_until(lambda: agents.settled(info) is not None, 5.0 if new else settle_timeout)
        new = agents.settled(info)
    finally:
        proc.terminate()
        proc.wait(10)
    writes = writer.load_log(log)
    timeline = Timeline.build(fault_at, writes, load_events(lab_event_paths(info.lab)))
    checked = lost_checked_on(fault, old, new)
    lost = lost_writes(writes, present_seqs(info, checked)) if checked else None
    return DrillResult(fault, old, new, timeline, lost, log)
