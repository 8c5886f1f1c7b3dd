"""Observers: worker threads that turn the world into observations, each on its own clock.

Mon's job (the local MySQL probe and the extra checks), the peer's MySQL over SQL (the
second signal before "peer dead"), the VIP and its link: each loop runs every
``[monitor].interval``. The ping nodes (ipfail) every ``[ping].interval``: ICMP echo
through icmplib's raw socket, no ``ping`` binary. A probe that hangs is bounded by its own
timeouts and never holds up the others, nor the heartbeats on the event loop.

A failed probe is confirmed quickly, not at the next slot: the first failure of a run,
and every failure while the server's process is gone or stopped (``liveness``), is
followed by another probe after ``CONFIRM`` seconds. A failure with the process alive
(running, or in I/O) after the first is judged at the usual interval, so only a
continuous failure window fails a busy server over. The process state goes into the
observation's detail, for the record.

What an idle agent does not repeat (each observation costs a decision): the peer's MySQL
is probed only while the peer's heartbeats are late (``peer_quiet``), which is the only
time the core reads it (a failure *after* the silence began); the VIP and its link are
checked when the kernel reports a change (netlink), or once a second, and posted when
they changed, or once a second.
"""

from __future__ import annotations

import functools
import subprocess
import threading
import time
from collections.abc import Callable, Collection
from dataclasses import replace

from dualbeat.agent.liveness import ProcessState, ServerProcess
from dualbeat.config import Check, Config
from dualbeat.core.gtid import GtidSet, parse_reported
from dualbeat.core.observations import (
    CheckRan,
    MysqlProbed,
    Observation,
    PeerSqlProbed,
    PingProbed,
    ProbeFailure,
    VipObserved,
)
from dualbeat.errors import DualbeatError, MysqlRefused
from dualbeat.gate.acks import AckTrail, Sample
from dualbeat.mysql.connection import Connect, Endpoint, Server
from dualbeat.mysql.internal import client_view
from dualbeat.mysql.probe import LocalProbe, ProbeErrorKind, ProbeResult, ping
from dualbeat.vip.manager import VipManager

Post = Callable[[Observation], None]
Step = Callable[[], float | None]  # returns the delay before its next run; None: the interval
#: Delay before a probe that confirms a failure (issue: "within ~20-50 ms").
CONFIRM = 0.03
#: How long a server process that could not be found is not looked up again.
LOOKUP_BACKOFF = 30.0
#: An unchanged VIP check is posted at most this often.
VIP_REFRESH = 1.0
WriteProbe = Callable[[], tuple[bool, int]]  # (write the heartbeat row?, epoch)
#: A rejoin of this node is under way while this file of its state directory exists
#: (``dualbeat.rejoin.journal``; named here so the agent loads no rejoin code).
REJOIN_JOURNAL = ("rejoin", "in-progress.json")

_FAILURES = {
    ProbeErrorKind.UNAVAILABLE: ProbeFailure.UNAVAILABLE,
    ProbeErrorKind.QUERY: ProbeFailure.QUERY,
    ProbeErrorKind.BUSY: ProbeFailure.BUSY,
    ProbeErrorKind.MISCONFIGURED: ProbeFailure.MISCONFIGURED,
}


def to_observation(r: ProbeResult, internal: Collection[int] = ()) -> MysqlProbed:
    """The probe as the core judges it. A write probe refused because ``read_only`` is ON
    (set by hand, say) is a live server in the wrong state, not a failed one: reported
    as alive and not writable, so the active repairs it instead of failing over. A write
    probe that timed out after the reads answered is ``STALLED`` (a backup's read lock,
    an fsync stall), not a dead server. GTID sets leave out dualbeat's own ``internal``
    domains, as every comparison between the nodes takes them (``mysql.internal``)."""
    read_only_refusal = r.error is ProbeErrorKind.QUERY and r.read_only is True
    if not r.ok and not read_only_refusal:
        assert r.error is not None
        failure = _FAILURES[r.error]
        if failure is ProbeFailure.UNAVAILABLE and r.read_only is False and r.writable is False:
            # The reads answered, the heartbeat write timed out: a lock or a slow disk.
            failure = ProbeFailure.STALLED
        return MysqlProbed(ok=False, failure=failure, detail=r.detail)
    replicating = None if r.io_running is None else bool(r.io_running and r.sql_running)
    return MysqlProbed(
        ok=True,
        detail=r.detail if read_only_refusal else f"{r.latency * 1000:.0f} ms",
        writable=None if r.read_only is None else not r.read_only,
        replicating=replicating,
        executed=_client_gtids(r.executed, r.gtid_family, frozenset(internal)),
        received=_client_gtids(r.received, r.gtid_family, frozenset(internal)),
        semisync_active=r.semisync_source,
        origin=r.origin,
        lag=r.seconds_behind,
        io_stopped=r.io_stopped,
    )


@functools.lru_cache(maxsize=8)
def _client_gtids(text: str, family: str | None, internal: frozenset[int]) -> GtidSet | None:
    """The reported set as the core compares it. Cached: on an idle server the same texts
    come back probe after probe, and parsing them (and taking dualbeat's own domains out)
    was most of the monitor's work besides the SQL; GTID sets are immutable."""
    gtids = parse_reported(text, family)
    return None if gtids is None else client_view(gtids, internal)


class Observers:
    def __init__(
        self,
        config: Config,
        node: str,
        local: Endpoint,
        peer: Endpoint,
        vip: VipManager | None,
        post: Post,
        write_probe: WriteProbe,
        connect: Connect = Server,
        peer_quiet: Callable[[], bool] = lambda: True,
        acks: AckTrail | None = None,
    ) -> None:
        self.config, self.node, self.post = config, node, post
        # Each probe's semi-sync reading, for the client gate's windows (``gate.acks``).
        self.acks = acks or AckTrail()
        self.connect = connect
        self.peer_quiet = peer_quiet
        self.interval = config.monitor.interval
        self._stop = threading.Event()
        self.last_probe: ProbeResult | None = None
        # @@log_bin_basename as last probed, kept while the server does not answer: the
        # client gate reads a frozen server's binary log by it (``gate.window``).
        self.binlog_base: str | None = None
        # One step per loop, by name; a unit test runs a step once, without its thread.
        self.steps = dict(self._steps(local, peer, vip, write_probe))
        self._threads = [
            threading.Thread(
                target=self._loop,
                args=(step, self.interval),
                name=f"dualbeat-{name}",
                daemon=True,
            )
            for name, step in self.steps.items()
        ]
        if config.ping.nodes:
            self._threads.append(
                threading.Thread(
                    target=self._loop,
                    args=(self._ping, config.ping.interval),
                    name="dualbeat-ping",
                    daemon=True,
                )
            )

    def _sampled(self, sent: float, result: ProbeResult) -> None:
        """Keep the probe's semi-sync reading; a failed probe ends the run (``gate.acks``)."""
        if result.ok and result.semisync is not None:
            self.acks.add(Sample(sent, result.executed, result.semisync))
        else:
            self.acks.broken()

    def _steps(
        self, local: Endpoint, peer: Endpoint, vip: VipManager | None, write_probe: WriteProbe
    ) -> list[tuple[str, Step]]:
        probe = LocalProbe(local, connect=self.connect)
        internal = self.config.internal_domains()
        peer_server = self.connect(peer)
        process = ServerProcess(local.port)
        failures = 0
        looked_up = float("-inf")
        rejoining = self.config.state_dir(self.node).joinpath(*REJOIN_JOURNAL)

        def monitor() -> float | None:
            nonlocal failures, looked_up
            write, epoch = write_probe()
            sent = time.monotonic()
            # While the peer is quiet a received event may veto "peer dead": read the
            # replica's status at every probe then (see ``mysql.probe``).
            result = probe.probe(
                write=write, node=self.node, epoch=epoch, watch_replica=self.peer_quiet()
            )
            self.last_probe = result
            self._sampled(sent, result)
            observation = to_observation(result, internal)
            if result.ok and rejoining.exists():
                # A rejoin rewrites this node's GTID history and data in several steps;
                # a position read between two of them looks clean and is not. Unknown
                # keeps the node fenced and never rejoins it by itself.
                observation = replace(
                    observation, executed=None, detail=f"{observation.detail}; rejoin under way"
                )
            if result.ok:
                failures = 0
                self.binlog_base = result.binlog_base
                now = time.monotonic()
                if process.pid is None and now - looked_up >= LOOKUP_BACKOFF:
                    looked_up = now
                    process.find()
                self.post(observation)
                return None
            if result.error not in (ProbeErrorKind.UNAVAILABLE, ProbeErrorKind.QUERY):
                self.post(observation)
                return None
            failures += 1
            state, pid = process.state(), process.pid
            if state is ProcessState.GONE:  # restarted: look the new one up once healthy
                process.forget()
                looked_up = float("-inf")
            detail = f"{observation.detail} (server process {pid}: {state.value})"
            gone = state is ProcessState.GONE and result.error is ProbeErrorKind.UNAVAILABLE
            self.post(replace(observation, detail=detail, gone=gone))
            return CONFIRM if failures == 1 or state.conclusive else None

        def peer_sql() -> None:
            if not self.peer_quiet():
                return
            try:
                ping(peer_server)
            except MysqlRefused as exc:  # its host is up, nothing listens: see PeerSqlProbed
                self.post(PeerSqlProbed(False, str(exc), refused=True))
            except DualbeatError as exc:
                self.post(PeerSqlProbed(False, str(exc)))
            else:
                self.post(PeerSqlProbed(True))

        steps = [("monitor", monitor), ("peer-sql", peer_sql)]
        if vip is not None:
            steps.append(("vip", self._vip_step(vip)))
        for check in self.config.monitor.checks:
            steps.append((f"check-{check.name}", self._check_step(check)))
        return steps

    def _vip_step(self, vip: VipManager) -> Step:
        last: VipObserved | None = None
        posted = float("-inf")

        def run() -> float:
            nonlocal last, posted
            observed, now = VipObserved(*vip.observe()), time.monotonic()
            # Without carrier, every sample counts (``CARRIER_SAMPLES``) and is taken at
            # the monitor's interval: a link that is down is confirmed within it, not at
            # the slow refresh of an unchanged interface.
            if observed != last or not observed.carrier or now - posted >= VIP_REFRESH:
                last, posted = observed, now
                self.post(observed)
            vip.wait_for_change(VIP_REFRESH if observed.carrier else self.interval)
            return 0.0

        return run

    def _check_step(self, check: Check) -> Step:
        def run() -> None:
            try:
                proc = subprocess.run(
                    check.command,
                    shell=True,
                    capture_output=True,
                    text=True,
                    timeout=check.timeout,
                    check=False,
                )
            except subprocess.TimeoutExpired:
                self.post(CheckRan(check.name, False, f"no answer within {check.timeout:g} s"))
                return
            tail = (proc.stdout or proc.stderr).strip().splitlines()[-1:] or [""]
            self.post(
                CheckRan(check.name, proc.returncode == 0, f"exit {proc.returncode}: {tail[0]}")
            )

        return run

    def _ping(self) -> None:
        """One echo to each ping node, in parallel, within the interval; reachable if any
        answers. An error (no route, no permission) counts as no answer, with its text.
        icmplib is imported here, by the ping thread: a node without ``[ping]`` never
        holds it in memory."""
        import icmplib

        addresses = [str(a) for a in self.config.ping.nodes]
        timeout = max(0.2, min(1.0, self.config.ping.interval * 0.8))
        try:
            hosts = icmplib.multiping(addresses, count=1, timeout=timeout, privileged=True)
        except icmplib.ICMPLibError as exc:
            self.post(PingProbed(False, f"ping failed: {exc}"))
            return
        alive = [h.address for h in hosts if h.is_alive]
        detail = f"answered: {', '.join(alive)}" if alive else f"no answer from {addresses}"
        self.post(PingProbed(bool(alive), detail))

    def _loop(self, step: Step, interval: float) -> None:
        while not self._stop.is_set():
            started = time.monotonic()
            delay = step()
            if delay is None:
                delay = max(0.0, interval - (time.monotonic() - started))
            self._stop.wait(delay)

    def start(self) -> None:
        for thread in self._threads:
            thread.start()

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(2.0)
