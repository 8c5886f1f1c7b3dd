"""False-positive soak: load that must *not* cause a failover, and the agents' own cost.

Why: a failover agent that moves the VIP when the active is merely busy is worse than no
agent. The soak puts the active under the load that fools simple health checks, on a
settled pair with both agents at default timings, and counts failovers (there must be
none). Load, all at once for ``duration`` seconds:

* sysbench ``oltp_read_write`` from the client host through the VIP (Debian sysbench);
* a CPU burner (``sysbench cpu``, one thread per core) and a disk writer (``fio``,
  4 KiB random writes with fsync) started inside the active's namespace;
* a long-running query on the active (``SELECT SLEEP(...)`` for half the soak);
* a replication lag spike on the standby: its SQL thread stopped for ``lag_hold``
  seconds, then one large transaction on the active (``big_rows`` rows of 200 bytes)
  that the standby must apply after it started again;
* three disturbances of the live active, one after the other at their own moments
  (``DISTURB_AT``, fractions of ``duration``; ``dualbeat_lab.sandbox.disturb`` says how
  each is made): a backup's ``FLUSH TABLES WITH READ LOCK`` held ``lock_hold`` seconds,
  an fsync stall of ``stall_hold`` seconds, and ``read_only`` set ON by hand. sysbench
  ignores error 1290 (read-only) besides its defaults: the app may meet the hand-set
  read-only until the agent repairs it, which is the disturbance, not a broken load.

Before the load, and during it, each agent's CPU (``utime + stime`` from
``/proc/<pid>/stat``, as % of one core) and RSS (``VmRSS``) are sampled every second.
A failover is any ``PROMOTED``
event during the soak, or a pair that ends with another active or without a standby.
"""

from __future__ import annotations

import itertools
import os
import subprocess
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from dualbeat.errors import MysqlError
from dualbeat.mysql.connection import Server
from dualbeat.mysql.dialect import Statement
from dualbeat_lab.errors import SandboxError
from dualbeat_lab.sandbox import agents, disturb
from dualbeat_lab.sandbox.drill import VIP_HOST
from dualbeat_lab.sandbox.figures import summary
from dualbeat_lab.sandbox.lab import LabInfo, Progress
from dualbeat_lab.sandbox.timeline import PROMOTED, lab_event_paths, load_events

#: When each disturbance of the active begins, as a fraction of the soak (after the lag spike).
DISTURB_AT = {"backup_lock": 0.45, "fsync_stall": 0.65, "read_only_by_hand": 0.85}
REPAIR_WITHIN = 10.0  # seconds the agent has to set a hand-set read_only OFF again
SYSBENCH_IGNORE = "1213,1020,1205,1290"  # sysbench's defaults, and read-only (see above)
SYSBENCH_TABLES = 2
SYSBENCH_TABLE_SIZE = 10_000
_CLK_TCK = os.sysconf("SC_CLK_TCK")
_PAGE = os.sysconf("SC_PAGE_SIZE")


@dataclass(frozen=True)
class ProcSample:
    """CPU ticks (user + system) and resident memory of one process at one time."""

    ts: float
    ticks: int
    rss_bytes: int


def parse_stat(stat: str) -> tuple[int, int]:
    """(utime + stime in clock ticks, rss in pages) from a ``/proc/<pid>/stat`` line.

    Fields are counted after the last ``)``: the command name may contain spaces or ``)``.
    """
    rest = stat[stat.rfind(")") + 2 :].split()
    # rest[0] is field 3 (state); utime/stime are fields 14/15, rss field 24.
    return int(rest[11]) + int(rest[12]), int(rest[21])


def read_proc(pid: int) -> ProcSample | None:
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    ticks, pages = parse_stat(text)
    return ProcSample(time.time(), ticks, pages * _PAGE)


def usage(samples: Sequence[ProcSample], hz: int = _CLK_TCK) -> dict[str, Any]:
    """CPU as % of one core (over the whole soak, and the busiest interval) and RSS in MB."""
    if len(samples) < 2:
        return {"cpu_percent_avg": None, "cpu_percent_max": None, "rss_mb": summary([])}
    first, last = samples[0], samples[-1]
    avg = 100.0 * (last.ticks - first.ticks) / hz / (last.ts - first.ts)
    peaks = [
        100.0 * (b.ticks - a.ticks) / hz / (b.ts - a.ts)
        for a, b in itertools.pairwise(samples)
        if b.ts > a.ts
    ]
    return {
        "cpu_percent_avg": round(avg, 2),
        "cpu_percent_max": round(max(peaks), 2),
        "rss_mb": summary([s.rss_bytes / 2**20 for s in samples]),
    }


@dataclass
class Watcher:
    """Samples the agents' /proc every ``period`` seconds in a thread."""

    pids: dict[str, int]
    period: float = 1.0
    samples: dict[str, list[ProcSample]] = field(default_factory=dict)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def _loop(self) -> None:
        while True:
            for node, pid in self.pids.items():
                if (s := read_proc(pid)) is not None:
                    self.samples.setdefault(node, []).append(s)
            if self._stop.wait(self.period):
                return

    def __enter__(self) -> Watcher:
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5.0)

    def report(self) -> dict[str, dict[str, Any]]:
        return {node: usage(s) for node, s in self.samples.items()}


def _sysbench(info: LabInfo, *args: str) -> list[str]:
    """sysbench oltp_read_write against the VIP, as the app user, from the client host."""
    return [
        "ip", "netns", "exec", info.client_namespace, "sysbench", "oltp_read_write",
        f"--mysql-host={VIP_HOST}", "--mysql-user=app",
        f"--mysql-password={info.secrets.password('app')}", "--mysql-db=app",
        f"--tables={SYSBENCH_TABLES}", f"--table-size={SYSBENCH_TABLE_SIZE}",
        f"--mysql-ignore-errors={SYSBENCH_IGNORE}", *args,
    ]  # fmt: skip


def _spawn(argv: list[str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        return subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT)


def _sql(info: LabInfo, node: str, sql: str, timeout: float = 120.0) -> None:
    endpoint = info.node(node).root_endpoint()
    with Server(replace(endpoint, read_timeout=timeout)) as server:
        server.execute(Statement(sql))


def _long_query(info: LabInfo, node: str, seconds: float, steps: list[str]) -> None:
    """``SELECT SLEEP(seconds)`` on ``node``; its outcome is noted among the steps."""
    try:
        _sql(info, node, f"SELECT SLEEP({seconds:.0f})", timeout=seconds + 30)
        steps.append(f"{time.strftime('%H:%M:%S')} long query on {node} finished")
    except MysqlError as exc:
        steps.append(f"{time.strftime('%H:%M:%S')} long query on {node} failed: {exc}")


@dataclass(frozen=True)
class SoakResult:
    duration: float
    active: str
    failovers: int
    events: list[str]
    agents: dict[str, dict[str, Any]]
    agents_idle: dict[str, dict[str, Any]]
    sysbench_ok: bool
    sysbench_tail: str
    steps: list[str]
    started: float
    disturbances: list[disturb.Disturbance]

    def as_json(self) -> dict[str, Any]:
        return {
            "duration_s": self.duration,
            "active": self.active,
            "failovers": self.failovers,
            "events_during_soak": self.events,
            "agents": self.agents,
            "agents_idle": self.agents_idle,
            "sysbench_ok": self.sysbench_ok,
            "sysbench_tail": self.sysbench_tail,
            "steps": self.steps,
            "disturbances": [d.as_json(self.started) for d in self.disturbances],
        }


def _lag_spike(
    info: LabInfo, active: str, standby: str, hold: float, rows: int, step: Progress
) -> None:
    """The standby's SQL thread stopped ``hold`` seconds, then one ``rows``-row transaction
    on the active for it to apply once started again."""
    _sql(info, standby, "STOP SLAVE SQL_THREAD")
    step(f"{standby}: SQL thread stopped for {hold:g} s")
    time.sleep(hold)
    try:
        _sql(info, active, f"INSERT INTO app.soak_big SELECT seq, REPEAT('x', 200) "
                           f"FROM app.seq_1_to_{rows}")  # fmt: skip
        step(f"{active}: one transaction of {rows} rows")
    finally:
        _sql(info, standby, "START SLAVE SQL_THREAD")
    step(f"{standby}: SQL thread started (lag spike)")


def _disturb(
    info: LabInfo,
    active: str,
    started: float,
    duration: float,
    lock_hold: float,
    stall_hold: float,
    step: Progress,
) -> list[disturb.Disturbance]:
    """The disturbances of the active, each at its ``DISTURB_AT`` moment (or as soon as the
    one before has ended), one at a time."""
    disturbers: dict[str, Callable[[], disturb.Disturbance]] = {
        "backup_lock": lambda: disturb.backup_lock(info, active, lock_hold),
        "fsync_stall": lambda: disturb.fsync_stall(info, active, stall_hold),
        "read_only_by_hand": lambda: disturb.read_only_by_hand(info, active, REPAIR_WITHIN),
    }
    done = []
    for name, at in DISTURB_AT.items():
        time.sleep(max(0.0, started + at * duration - time.time()))
        done.append(disturbers[name]())
        step(f"{name} on {active}: {done[-1].detail}")
    return done


def run(
    info: LabInfo,
    duration: float,
    *,
    lag_hold: float = 15.0,
    big_rows: int = 200_000,
    threads: int = 4,
    baseline: float = 10.0,
    lock_hold: float = 5.0,
    stall_hold: float = 5.0,
    progress: Progress = lambda _m: None,
) -> SoakResult:
    """Soak a settled pair for ``duration`` seconds; count failovers and agent usage."""
    active = agents.wait_settled(info, progress)
    standby = next(n.name for n in info.nodes if n.name != active)
    work = info.lab.state_dir / "soak"
    work.mkdir(mode=0o755, exist_ok=True)
    steps: list[str] = []

    def step(text: str) -> None:
        steps.append(f"{time.strftime('%H:%M:%S')} {text}")
        progress(text)

    prepare = subprocess.run(
        _sysbench(info, "prepare"), capture_output=True, text=True, timeout=300, check=False
    )
    if prepare.returncode != 0:
        raise SandboxError(f"sysbench prepare failed: {prepare.stderr.strip()[-500:]}")
    _sql(info, active, "CREATE TABLE IF NOT EXISTS app.soak_big (id INT PRIMARY KEY, pad TEXT)")
    disturb.prepare(info, active)
    pids = {n.name: pid for n in info.nodes if (pid := agents.running_pid(info, n.name))}
    with Watcher(pids) as idle:
        time.sleep(baseline)
    step(f"agents watched for {baseline:g} s without load")
    started = time.time()
    cores = os.cpu_count() or 1
    load = [
        _spawn(
            _sysbench(info, f"--threads={threads}", f"--time={int(duration)}",
                      "--report-interval=10", "run"),
            work / "sysbench.log",
        ),
        _spawn(
            ["ip", "netns", "exec", active, "sysbench", "cpu", f"--threads={cores}",
             f"--time={int(duration)}", "run"],
            work / "cpu.log",
        ),
        _spawn(
            ["ip", "netns", "exec", active, "fio", "--name=soak", f"--directory={work}",
             "--rw=randwrite", "--bs=4k", "--size=64m", "--fsync=1", "--time_based",
             f"--runtime={int(duration)}", "--ioengine=psync"],
            work / "fio.log",
        ),
    ]  # fmt: skip
    step(f"load on {active}: sysbench oltp_read_write x{threads}, cpu x{cores}, fio")
    long_query = threading.Thread(
        target=_long_query, args=(info, active, duration / 2, steps), daemon=True
    )
    try:
        with Watcher(pids) as watcher:
            long_query.start()
            step(f"long query on {active}: SELECT SLEEP({duration / 2:.0f})")
            time.sleep(duration / 4)
            _lag_spike(info, active, standby, lag_hold, big_rows, step)
            disturbances = _disturb(info, active, started, duration, lock_hold, stall_hold, step)
            for proc in load:
                proc.wait(timeout=max(0.0, started + duration + 60 - time.time()))
            step("load finished")
    finally:
        for proc in load:
            if proc.poll() is None:
                proc.terminate()
                proc.wait(10)
        long_query.join(5.0)
    events = [e for e in load_events(lab_event_paths(info.lab)) if e.ts >= started]
    final = agents.settled(info, standby=True)
    failovers = sum(1 for e in events if e.code == PROMOTED) + (0 if final == active else 1)
    tail = (work / "sysbench.log").read_text()[-1500:]
    return SoakResult(
        duration=duration,
        active=active,
        failovers=failovers,
        events=[f"{e.node} {e.code}: {e.text}" for e in events],
        agents=watcher.report(),
        agents_idle=idle.report(),
        sysbench_ok=load[0].returncode == 0,
        sysbench_tail=tail,
        steps=steps,
        started=started,
        disturbances=disturbances,
    )
