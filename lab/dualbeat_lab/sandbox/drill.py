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

from dualbeat.mysql.connection import Server
from dualbeat.mysql.dialect import Statement
from dualbeat_lab.errors import SandboxError
from dualbeat_lab.sandbox import agents, faults, writer
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
    fault: Fault
    old_active: str
    new_active: str | None
    timeline: Timeline
    lost: list[int]
    log: Path

    def as_json(self) -> dict[str, object]:
        return {
            "fault": self.fault.value,
            "old_active": self.old_active,
            "new_active": self.new_active,
            "lost_acked_writes": len(self.lost),
            **self.timeline.as_json(),
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
) -> DrillResult:
    """Run one drill on a settled pair and return its timeline (the fault is undone)."""
    old = agents.wait_settled(info, progress)
    drill_dir = info.lab.state_dir / "drills"
    drill_dir.mkdir(exist_ok=True)
    log = drill_dir / f"{fault.value}-{time.strftime('%Y%m%d-%H%M%S')}-writes.jsonl"
    argv = writer.command(VIP_HOST, info.secrets.app_password_file, log, hold + settle_timeout)
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
    lost = lost_writes(writes, present_seqs(info, new)) if new else []
    return DrillResult(fault, old, new, timeline, lost, log)
