"""One drill, the same for dualbeat and for keepalived: fresh lab, writer, samplers, one
fault, repair, checksum. ``bench/compare.py`` runs it for every scenario and both stacks.

Why the stacks share everything but four verbs (start, settled, kill the agent, planned
switchover, repair): a comparison is only fair when both sides see the same hosts, the
same writer through the same VIP, the same fault injectors (``faults``), the same
timeline arithmetic (``timeline``) and the same lost-write check (``drill.present_seqs``).

Measured besides the writer's RTO and longest gap:

* three **samples** per node (every ``SAMPLE_PERIOD``, two threads): does it hold the VIP (its
  addresses), does it answer ARP for it (``keepalived.answers_arp``: a releasing
  dualbeat node keeps the address a moment, ARP silenced, to refuse late clients), and does
  its server answer ``read_only`` OFF (through its socket, so a partition cannot hide it).
  ``figures.overlap_seconds`` turns them into the time with the VIP on two hosts, with two
  hosts answering ARP for it, and with two writable servers. A server that does not
  answer is sampled as not writable (it takes no write then);
* after the fault is undone, the pair is **repaired** the stack's usual way and the app
  data compared with ``dualbeat checksum``'s engine (``checksum_servers``, with catch-up):
  differing rows mean the two servers diverged.
"""

from __future__ import annotations

import enum
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from dualbeat.checksum.compare import checksum_servers
from dualbeat.errors import DualbeatError, MysqlError
from dualbeat.mysql.connection import Server
from dualbeat_lab import writer
from dualbeat_lab.errors import SandboxError
from dualbeat_lab.sandbox import agents, faults, keepalived, lab
from dualbeat_lab.sandbox.drill import VIP_HOST, acked_after, present_seqs, wait_until
from dualbeat_lab.sandbox.figures import RunResult, Sample, overlap_seconds
from dualbeat_lab.sandbox.lab import LabInfo, Progress
from dualbeat_lab.sandbox.provision import dualbeat_in, provision
from dualbeat_lab.sandbox.timeline import Timeline, lost_writes

SAMPLE_PERIOD = 0.1
SETTLE_TIMEOUT = 40.0
#: How long a fenced node is given to stand by again by itself before the repair steps in
#: (warntime, an analysis and a flashback or a copy of the small bench data).
SELF_HEAL_WAIT = 60.0
OBSERVE_AFTER = 2.0  # seconds the writer and samplers keep going once the pair settled
# ... and at least this long after the fault ended: a peer that takes over late (keepalived
# after its master died silently: 3 adverts + skew) must be seen, not cut off.
OBSERVE_MIN = 8.0
CATCHUP_TIMEOUT = 20.0
STABLE_FOR = 3.0


class Scenario(enum.Enum):
    KILL = "kill"  # kill -9 mysqld on the active
    FREEZE = "freeze"  # SIGSTOP mysqld on the active for the freeze hold (20 s)
    LINKDOWN = "linkdown"  # the active's links lose carrier for the hold
    SWITCHOVER = "switchover"  # planned, the stack's usual way
    AGENT_KILL = "agent-kill"  # kill -9 the agent (keepalived) on the active
    PARTITION = "partition"  # frames to/from the active dropped, carrier kept, for the hold
    STANDBY_LOST = "standby-lost"  # the standby's links lose carrier for the hold

    @property
    def title(self) -> str:
        return TITLES[self]


TITLES = {
    Scenario.KILL: "kill -9 mysqld on the active",
    Scenario.FREEZE: "SIGSTOP mysqld on the active",
    Scenario.LINKDOWN: "active host link down",
    Scenario.SWITCHOVER: "planned switchover",
    Scenario.PARTITION: "active host partitioned (carrier up)",
    Scenario.AGENT_KILL: "agent / keepalived killed on the active",
    Scenario.STANDBY_LOST: "standby host lost (link down)",
}


class Stack(Protocol):
    """What differs between dualbeat and keepalived in a drill."""

    name: str

    def start(self, info: LabInfo, progress: Progress) -> str:
        """Start the HA software on both hosts; the active node once settled."""

    def settled(self, info: LabInfo) -> str | None:
        """The one active (writable, VIP) node, or None while the pair is not settled."""

    def kill_agent(self, info: LabInfo, node: str) -> float:
        """SIGKILL the HA software on ``node``; the time of the signal."""

    def switchover(self, info: LabInfo, node: str, progress: Progress) -> float:
        """Move the active role away from ``node`` the usual way; when it began."""

    def repair(self, info: LabInfo, progress: Progress) -> None:
        """After the fault is undone: what an operator does to get a healthy pair back."""


class DualbeatStack:
    name = "dualbeat"

    def start(self, info: LabInfo, progress: Progress) -> str:
        return agents.start_all(info, progress)

    def settled(self, info: LabInfo) -> str | None:
        return agents.settled(info)

    def kill_agent(self, info: LabInfo, node: str) -> float:
        return faults.kill_agent(info.lab, node)

    def switchover(self, info: LabInfo, node: str, progress: Progress) -> float:
        started = time.time()
        dualbeat_in(node, ["switchover", "-c", str(info.config_path)], progress, timeout=60.0)
        return started

    def repair(self, info: LabInfo, progress: Progress) -> None:
        """Restart what died; a node still fenced after ``SELF_HEAL_WAIT`` (its agent
        rejoins it by itself when it can: ``[rejoin] auto``) goes through ``dualbeat
        rejoin --accept``, as an operator would."""
        for n in info.nodes:
            agents.start(info, n.name, progress)
        wait_until(lambda: agents.settled(info) is not None, SETTLE_TIMEOUT)

        def fenced() -> list[str]:
            views = {n.name: agents.status(info, n.name) for n in info.nodes}
            return [name for name, v in views.items() if v and v["role"] == "fenced"]

        if fenced():
            progress(f"fenced: {', '.join(fenced())}; waiting for its agent to rejoin it")
            wait_until(lambda: not fenced(), SELF_HEAL_WAIT)
        for name in fenced():
            progress(f"{name} still fenced: dualbeat rejoin {name} --accept")
            dualbeat_in(name, ["rejoin", name, "--accept", "-c", str(info.config_path)], progress)
        agents.wait_settled(info, progress, SETTLE_TIMEOUT)


@dataclass
class KeepalivedStack:
    name: str = "keepalived"
    timings: keepalived.Timings = field(default_factory=keepalived.Timings)

    def start(self, info: LabInfo, progress: Progress) -> str:
        return keepalived.start_all(info, progress, self.timings)

    def settled(self, info: LabInfo) -> str | None:
        return keepalived.settled(info)

    def kill_agent(self, info: LabInfo, node: str) -> float:
        return keepalived.kill(info, node)

    def switchover(self, info: LabInfo, node: str, progress: Progress) -> float:
        """``systemctl stop keepalived`` on the master, then start it again once the peer
        holds the VIP (it comes back as BACKUP: ``nopreempt``)."""
        started = keepalived.stop(info, node)
        peer = next(n.name for n in info.nodes if n.name != node)
        wait_until(lambda: keepalived.holds_vip(info.lab, peer), SETTLE_TIMEOUT)
        keepalived.start(info, node, progress, self.timings)
        return started

    def repair(self, info: LabInfo, progress: Progress) -> None:
        """keepalived running on both hosts again; the rest is up to replication."""
        for n in info.nodes:
            keepalived.start(info, n.name, progress, self.timings)
        keepalived.wait_settled(info, SETTLE_TIMEOUT)


def _tuned() -> Stack:
    return KeepalivedStack("keepalived-tuned", keepalived.TUNED)


# "keepalived" is the common guides' recipe; "keepalived-tuned" the same stack as a competent
# operator tunes it (VRRP v3, 0.2 s adverts, fall 1, track_process: keepalived.TUNED).
STACKS: dict[str, Callable[[], Stack]] = {
    "dualbeat": DualbeatStack,
    "keepalived": KeepalivedStack,
    "keepalived-tuned": _tuned,
}


class Samplers:
    """Per node, one thread sampling the VIP (held, and answering ARP for it) and one
    sampling ``read_only`` until stopped."""

    def __init__(self, info: LabInfo, period: float = SAMPLE_PERIOD) -> None:
        self.info = info
        self.period = period
        self.samples: list[Sample] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads = [
            threading.Thread(target=self._loop, args=(n.name, kind), daemon=True)
            for n in info.nodes
            for kind in ("vip", "writable")
        ]

    def _probe(self, node: str, kind: str) -> dict[str, bool]:
        """The sampled values, by kind: the VIP thread reads the addresses once for both
        of its kinds (one ``ip`` per period, not two) and asks ``nft`` only when held."""
        lab_ = self.info.lab
        if kind == "vip":
            held = keepalived.holds_vip(lab_, node)
            return {"vip": held, "arp": held and keepalived.answers_arp(node)}
        return {kind: keepalived.writable(lab_, node, timeout=0.3) is True}

    def _loop(self, node: str, kind: str) -> None:
        kinds = ("vip", "arp") if kind == "vip" else (kind,)
        while not self._stop.is_set():
            started = time.monotonic()
            try:
                values = self._probe(node, kind)
            except (SandboxError, OSError):
                values = dict.fromkeys(kinds, False)
            at = time.time()
            with self._lock:
                self.samples += [Sample(at, node, k, v) for k, v in values.items()]
            self._stop.wait(max(0.0, self.period - (time.monotonic() - started)))

    def __enter__(self) -> Samplers:
        for t in self._threads:
            t.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for t in self._threads:
            t.join(5.0)


def _standby(info: LabInfo, active: str) -> str:
    return next(n.name for n in info.nodes if n.name != active)


def _inject(
    stack: Stack, info: LabInfo, scenario: Scenario, active: str, progress: Progress
) -> tuple[float, Callable[[], object] | None]:
    """Apply the fault; its time and how to end it (None: nothing to undo)."""
    lab_ = info.lab
    match scenario:
        case Scenario.KILL:
            return faults.kill_mysqld(lab_, active), None
        case Scenario.FREEZE:
            return faults.freeze_mysqld(lab_, active), lambda: faults.thaw_mysqld(lab_, active)
        case Scenario.LINKDOWN:
            return faults.link_down(lab_, active), lambda: faults.link_up(lab_, active)
        case Scenario.PARTITION:
            return faults.partition(lab_, active), lambda: faults.heal(lab_)
        case Scenario.SWITCHOVER:
            return stack.switchover(info, active, progress), None
        case Scenario.AGENT_KILL:
            return stack.kill_agent(info, active), None
        case Scenario.STANDBY_LOST:
            standby = _standby(info, active)
            return faults.link_down(lab_, standby), lambda: faults.link_up(lab_, standby)


def _final_writer(info: LabInfo, stack: Stack) -> str | None:
    """The node the pair settled on; failing that, the one writable server, if exactly one."""
    if (node := stack.settled(info)) is not None:
        return node
    rw = [n.name for n in info.nodes if keepalived.writable(info.lab, n.name) is True]
    return rw[0] if len(rw) == 1 else None


def _rows(info: LabInfo, nodes: list[str]) -> set[int]:
    """The writer's seqs present on any of ``nodes`` (one that cannot answer has none).

    Called with the new active alone when there is one; with both servers when the pair
    ended with no single writer (split brain): a write is then lost only if on neither.
    """
    seqs: set[int] = set()
    for node in nodes:
        try:
            seqs |= present_seqs(info, node)
        except MysqlError:
            continue
    return seqs


def _stable(stack: Stack, info: LabInfo) -> str:
    """The active once the stack has named the same one for ``STABLE_FOR`` seconds.

    Why: right after a restart keepalived may hold the VIP for a moment before it drops
    it and enters BACKUP; a single look could catch that moment.
    """
    deadline = time.monotonic() + SETTLE_TIMEOUT
    seen: str | None = None
    since = time.monotonic()
    while time.monotonic() < deadline:
        now = stack.settled(info)
        if now != seen:
            seen, since = now, time.monotonic()
        elif seen is not None and time.monotonic() - since >= STABLE_FOR:
            return seen
        time.sleep(0.1)
    raise SandboxError(f"no stable single writer {SETTLE_TIMEOUT:g} s after the repair")


def _compare(info: LabInfo, reference: str) -> tuple[bool, int]:
    """Checksum of the app schema, reference first; (equal, differing rows)."""
    other = _standby(info, reference)
    ends = [info.node(n).root_endpoint() for n in (reference, other)]
    with Server(ends[0]) as ref, Server(ends[1]) as peer:
        report = checksum_servers(ref, peer, databases=["app"], catchup_timeout=CATCHUP_TIMEOUT)
    return report.equal, sum(t.differing_rows for t in report.tables)


def run_once(
    stack: Stack,
    scenario: Scenario,
    run: int,
    state_dir: Path,
    *,
    hold: float,
    freeze_hold: float,
    progress: Progress,
    profile: writer.Profile = writer.Profile.TIGHT,
) -> RunResult:
    """One drill on a fresh lab; the lab is left up (the caller takes it down)."""
    lab.down(state_dir)
    info = provision(state_dir, lambda _m: None, with_agents=False)
    active = stack.start(info, progress)
    log = info.lab.state_dir / f"{stack.name}-{scenario.value}-{run}-writes.jsonl"
    held = freeze_hold if scenario is Scenario.FREEZE else hold
    argv = writer.command(
        VIP_HOST, info.secrets.app_password_file, log, held + 3 * SETTLE_TIMEOUT, profile=profile
    )
    with Samplers(info) as samplers:
        proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            if not wait_until(lambda: log.exists() and acked_after(log, 0.0), 15.0):
                raise SandboxError(f"the writer acknowledged no write through {VIP_HOST}")
            progress(f"{stack.name} {scenario.value} run {run}: fault on {active}")
            fault_at, end = _inject(stack, info, scenario, active, progress)
            ended = fault_at
            if end is not None:
                time.sleep(max(0.0, fault_at + held - time.time()))
                end()
                ended = time.time()
            wait_until(lambda: acked_after(log, fault_at), SETTLE_TIMEOUT)
            wait_until(lambda: stack.settled(info) is not None, SETTLE_TIMEOUT)
            time.sleep(max(OBSERVE_AFTER, ended + OBSERVE_MIN - time.time()))
        finally:
            proc.terminate()
            proc.wait(10)
    writes = writer.load_log(log)
    timeline = Timeline.build(fault_at, writes)
    final = _final_writer(info, stack)
    lost = lost_writes(writes, _rows(info, [final] if final else [n.name for n in info.nodes]))
    result = RunResult(
        stack=stack.name,
        scenario=scenario.value,
        run=run,
        rto_s=None if timeline.rto is None else round(timeline.rto, 3),
        longest_gap_s=None
        if timeline.longest_gap is None
        else round(timeline.longest_gap.seconds, 3),
        acked_lost=len(lost),
        two_vip_holders_s=round(overlap_seconds(samplers.samples, "vip"), 3),
        two_arp_answerers_s=round(overlap_seconds(samplers.samples, "arp"), 3),
        two_writable_s=round(overlap_seconds(samplers.samples, "writable"), 3),
        checksum_equal=None,
        differing_rows=None,
        old_active=active,
        new_active=final,
        profile=profile.value,
    )
    return _repaired(stack, info, result, progress)


def _repaired(stack: Stack, info: LabInfo, result: RunResult, progress: Progress) -> RunResult:
    """Undo the faults, restart what was killed, repair the stack's way, then checksum.

    A repair the stack refuses (dualbeat's ``rejoin --accept`` while the old active holds
    writes the new one lacks) is recorded as the run's error, and the pair is compared
    as it stands: the checksum then shows what the refusal is about.
    """
    refused: str | None = None
    try:
        faults.heal_all(info.lab)
        lab.up(info.lab.state_dir, lambda _m: None)  # restarts a killed mariadbd
        try:
            stack.repair(info, progress)
        except DualbeatError as exc:
            refused = f"repair: {exc}"
            progress(f"{stack.name} {result.scenario}: {refused}")
        reference = _stable(stack, info)
        equal, rows = _compare(info, reference)
    except (DualbeatError, subprocess.SubprocessError) as exc:
        progress(f"{stack.name} {result.scenario}: not compared: {exc}")
        return RunResult(**{**result.as_json(), "error": refused or f"not compared: {exc}"})
    return RunResult(
        **{**result.as_json(), "checksum_equal": equal, "differing_rows": rows, "error": refused}
    )
