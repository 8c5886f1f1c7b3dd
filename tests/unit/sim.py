"""A deterministic simulator for the real cores of a pair (and an arbiter): fake clock,
hostile network, model MySQL, faults, invariants after every step.

Each node runs the real ``decide``. The world gives it the observations the agent would:
probes of a model MySQL, VIP checks, the peer's SQL reachability, ping nodes, heartbeats
and arbiter answers through a network that drops, delays, duplicates and partitions
messages. Actions take effect on the model after a random delay (the arbiter's on the
arbiter, when the request gets there). Hosts: ``db1``, ``db2``, ``arb`` (the witness,
``sim_witness``: a lease store with a TTL and an epoch floor on the world clock), ``gw``
(the ping node) and ``client`` (a pair of writers, each holding one session, reconnecting
through the VIP when it fails; a session stays on its server as long as that server
takes writes, VIP or not).

Faults follow a seeded schedule (see ``test_core_simulation`` and ``test_core_sim_arbiter``);
a failing seed prints the command that reruns it alone.

Agent pauses are survivable only with the watchdog (a real host too): in arbiter mode the
model arms it while active, kicks it while the last vote is longer than its timeout away
(``lease.may_kick``), and a silent watchdog resets the host.
"""

from __future__ import annotations

import heapq
import itertools
import multiprocessing
import os
import random
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace

import pytest

from dualbeat.core.actions import (
    AcquireLease,
    Action,
    AdmitClients,
    AutoRejoin,
    ClaimVip,
    Exit,
    KillSessions,
    PersistState,
    PrepareTakeover,
    ReleaseLease,
    ReleaseVip,
    RenewLease,
    SetReadOnly,
    ShutClients,
    StartReplication,
    StopReplication,
)
from dualbeat.core.advertise import advert
from dualbeat.core.decide import decide
from dualbeat.core.durable import Durable
from dualbeat.core.gtid import MariadbGtidSet
from dualbeat.core.lease import may_kick
from dualbeat.core.observations import (
    ActionDone,
    ActionFailed,
    GateWindowOpened,
    MysqlProbed,
    Observation,
    PeerBeat,
    PeerBeatReceived,
    PeerSqlProbed,
    PingProbed,
    ProbeFailure,
    Started,
    TakeoverPrepared,
    Tick,
    VipObserved,
)
from dualbeat.core.roles import Role
from dualbeat.core.state import CoreConfig, NodeState, RejoinAuto, Timing
from tests.unit.sim_witness import Witness

NAMES = ("db1", "db2")
CLIENTS = ("w1", "w2")  # two writers on the ``client`` host
STEP = 0.05
WATCHDOG = 1.0  # the model watchdog's timeout (< ttl - margin)
READ_TIMEOUT = 2.0  # the writers' (the bench's ``tight`` profile)


@dataclass
class Mysql:
    """The model server: alive/frozen, read_only, and per-origin transaction counters."""

    server_id: int
    alive: bool = True
    frozen: bool = False
    writable: bool = False
    applying: bool = True  # the replica's SQL thread
    seqs: dict[int, int] = field(default_factory=dict)  # domain (= writer's server id) -> seq
    sessions: int = 0  # client sessions connected (the writer's, at most one)

    @property
    def up(self) -> bool:
        return self.alive and not self.frozen

    def executed(self) -> MariadbGtidSet:
        text = ",".join(f"{d}-{d}-{n}" for d, n in sorted(self.seqs.items()) if n)
        return MariadbGtidSet.parse(text)

    def has(self, domain: int, seq: int) -> bool:
        return self.seqs.get(domain, 0) >= seq


@dataclass
class Node:
    name: str
    cfg: CoreConfig
    mysql: Mysql
    state: NodeState = field(default_factory=NodeState)
    disk: Durable = field(default_factory=Durable)
    agent_up: bool = True
    paused_until: float = 0.0
    vip: bool = False
    gated: bool = False  # the client gate shut: no client session reaches its server
    # The gate's windows (``gate.window``) over the node's own transaction numbers: the
    # one open since a shut that cut a session off, and the closed ones (from, to].
    window_from: int | None = None
    windows: list[tuple[int, int]] = field(default_factory=list)
    boot: int = 0
    next_probe: float = 0.0
    next_beat: float = 0.0
    wake_at: float | None = None
    seq: int = 0
    sent: dict[int, float] = field(default_factory=dict)  # our beat seq -> send time
    kicked_at: float | None = None  # the watchdog is armed while not None
    reboot_at: float | None = None  # reset by the watchdog: the agent starts again then

    def in_windows(self, lost: range) -> bool:
        """Every one of ``lost`` (own transaction numbers) inside a closed gate window."""
        return all(any(a < s <= b for a, b in self.windows) for s in lost)


class World:
    def __init__(
        self,
        seed: int,
        *,
        loss: float = 0.05,
        arbiter: bool = False,
        ping: bool = False,
        chaos: bool = False,
        rejoin_auto: RejoinAuto = RejoinAuto.INTERNAL,
        watchdog: float = WATCHDOG,
        timing: Timing | None = None,
        semisync: bool = False,
    ) -> None:
        self.rng = random.Random(seed)
        # Replication as semi-sync with a reachable peer: a write is on the peer before it
        # is acknowledged (the model's approximation: no timeout, no fallback).
        self.semisync = semisync
        self.now = 0.0
        self.loss, self.chaos = loss, chaos
        self.arbiter = arbiter
        timing = timing or Timing(initdead=3.0)  # initdead shorter than 10 s: faster seeds
        self.nodes = {
            name: Node(
                name,
                CoreConfig(
                    node=name,
                    peer=NAMES[1 - i],
                    priority=i,
                    timing=timing,
                    arbiter=arbiter,
                    ping=ping,
                    watchdog_timeout=watchdog if arbiter else 0.0,
                    rejoin_auto=rejoin_auto,
                ),
                Mysql(server_id=i + 1, writable=(i == 0)),
            )
            for i, name in enumerate(NAMES)
        }
        self.queue: list[tuple[float, int, str, Observation | _Wire]] = []
        self.order = itertools.count()
        self.acked: list[tuple[int, int]] = []  # (domain, seq) of acknowledged client writes
        # The server each writer's session is connected to (both writers on ``client``).
        self.sessions: dict[str, str | None] = dict.fromkeys(CLIENTS)
        self.blocked_since: dict[str, float] = {}  # clients waiting on a frozen server
        self.log: list[str] = []
        self.cut: set[frozenset[str]] = set()  # host pairs that cannot talk
        self.dropped: set[tuple[str, str]] = set()  # (src, dst): IP dropped one way, ARP passes
        self.arb_up = True
        self.witness = Witness()
        self.promoted: list[int] = []  # epochs of PROMOTED reasons, in order
        for node in self.nodes.values():
            self._start(node)

    # ------------------------------------------------------------ network

    def link(self, a: str, b: str) -> bool:
        return frozenset((a, b)) not in self.cut

    def reach(self, src: str, dst: str) -> bool:
        """An IP packet gets from ``src`` to ``dst`` (``link`` is the layer below: ARP)."""
        return self.link(src, dst) and (src, dst) not in self.dropped

    def both_ways(self, a: str, b: str) -> bool:
        """A TCP exchange (SQL, replication) needs both directions."""
        return self.reach(a, b) and self.reach(b, a)

    def peer(self, node: Node) -> Node:
        return self.nodes[node.cfg.peer]

    def _deliver(self, at: float, node: str, obs: Observation | _Wire) -> None:
        heapq.heappush(self.queue, (at, next(self.order), node, obs))

    def _send(self, src: str, dst: str, obs: _Wire) -> None:
        """A datagram: lost, delayed, duplicated, or cut by a partition."""
        if not self.reach(src, dst) or self.rng.random() < self.loss:
            return
        copies = 2 if self.chaos and self.rng.random() < 0.05 else 1
        for _ in range(copies):
            delay = self.rng.uniform(0.0, 0.3 if self.chaos else 0.03)
            self._deliver(self.now + delay, dst, obs)

    # ------------------------------------------------------------ the cores

    def _feed(self, node: Node, obs: Observation) -> None:
        if not node.agent_up:
            return
        d = decide(node.cfg, node.state, obs, self.now)
        node.state, node.wake_at = d.state, d.wake_at
        for r in d.reasons:
            self.log.append(f"{self.now:7.2f} {node.name} {r.code} {node.state.role.value}")
            if r.code == "PROMOTED":
                self.promoted.append(node.state.durable.epoch)
        at = self.now
        for action in d.actions:
            at += self.rng.uniform(0.0, 0.05)
            self._deliver(at, node.name, self._outcome(node, action, at))

    def _outcome(self, node: Node, action: Action, at: float) -> Observation:
        """Carry the action out on the model now (its effect lands with its report)."""
        m, peer = node.mysql, self.peer(node)
        mysql_actions = (SetReadOnly, PrepareTakeover, StartReplication, StopReplication)
        if isinstance(action, mysql_actions) and not m.up:
            return ActionFailed(action, "server unavailable")
        match action:
            case SetReadOnly(on=on):
                m.writable = not on
            case KillSessions():
                m.sessions = 0
                self._drop_sessions(node.name)
            case ShutClients():  # the kernel's doing: works on a dead or frozen server too
                if m.sessions and m.alive and node.window_from is None:
                    # A session cut off from a live (or frozen) server: its binary log's
                    # end is the window's start, and the agent tells its core.
                    node.window_from = m.seqs.get(m.server_id, 0)
                    self._deliver(at, node.name, GateWindowOpened())
                node.gated = True
                m.sessions = 0
                self._drop_sessions(node.name)
            case AdmitClients():
                if node.window_from is not None:
                    node.windows.append((node.window_from, m.seqs.get(m.server_id, 0)))
                    node.window_from = None
                node.gated = False
            case ClaimVip(force=force, probe=probe):
                # the ARP probe (skipped after the peer announced its release)
                answered = probe and peer.vip and self.link(node.name, peer.name)
                if answered and not force:
                    return ActionFailed(action, "VIP answered by the peer")
                node.vip = True
            case ReleaseVip():
                node.vip = False
            case PrepareTakeover():
                m.applying = False
                ex = m.executed()
                return TakeoverPrepared(ex, ex, MariadbGtidSet(), True)
            case StopReplication():
                m.applying = False
            case StartReplication():
                m.applying = True
            case PersistState(durable=durable):
                node.disk = durable
            case AcquireLease() | RenewLease() | ReleaseLease():
                return self._arbiter(node, action, at)
            case Exit():
                node.agent_up = False
            case AutoRejoin():
                return self._auto_rejoin(node, peer, action)
        return ActionDone(action)

    def _auto_rejoin(self, node: Node, active: Node, action: AutoRejoin) -> Observation:
        """``ops.rejoin.auto_resolve``: the node's own transactions the active lacks, all
        inside the gate's closed windows, are discarded (the node becomes the active's
        copy); else, with ``safe``, every lost write is re-applied (the model's writes are
        inserts of fresh keys: all safe); else refused before any change."""
        if not (node.mysql.up and active.mysql.up and self.link(node.name, active.name)):
            return ActionFailed(action, "a server is unreachable")
        own = node.mysql.server_id
        lost = range(active.mysql.seqs.get(own, 0) + 1, node.mysql.seqs.get(own, 0) + 1)
        if lost and node.in_windows(lost):
            node.mysql.seqs = dict(active.mysql.seqs)
            node.windows = []  # its history restarts: a new binary log, no window on it
            self.log.append(f"{self.now:7.2f} {node.name} AUTO-REJOIN discarded {len(lost)}")
            return ActionDone(action, "discarded")
        if node.cfg.rejoin_auto is not RejoinAuto.SAFE:
            return ActionFailed(action, "committed while clients could reach it", True)
        for domain, seq in node.mysql.seqs.items():
            if active.mysql.seqs.get(domain, 0) < seq:
                active.mysql.seqs[domain] = seq
        node.mysql.seqs = dict(active.mysql.seqs)
        node.windows = []
        self.log.append(f"{self.now:7.2f} {node.name} AUTO-REJOIN re-applied on {active.name}")
        return ActionDone(action, "re-applied")

    def _arbiter(
        self, node: Node, action: AcquireLease | RenewLease | ReleaseLease, sent: float
    ) -> Observation:
        """The witness (``sim_witness``) behind the network: the request and the answer
        each cross it, and a lost one is a timeout."""
        if not (self.arb_up and self.link(node.name, "arb")) or self.rng.random() < self.loss:
            return ActionFailed(action, "arbiter unavailable")
        answer = self.witness.answer(node.name, action, sent, node.cfg.timing.lease_ttl)
        if self.rng.random() < self.loss:  # the answer was lost: the caller times out
            return ActionFailed(action, "arbiter unavailable")
        return answer

    def _start(self, node: Node) -> None:
        node.agent_up, node.boot, node.paused_until = True, node.boot + 1, 0.0
        node.state, node.seq, node.sent, node.kicked_at = NodeState(), 0, {}, None
        node.next_probe = node.next_beat = self.now
        self._feed(node, Started(boot_id=node.boot, durable=node.disk))

    # ------------------------------------------------------------ the world's clock

    def running(self, node: Node) -> bool:
        return node.agent_up and self.now >= node.paused_until

    def step(self) -> None:
        self.now = round(self.now + STEP, 6)
        for node in self.nodes.values():
            if not self.running(node):
                continue
            if self.now >= node.next_probe:
                node.next_probe = self.now + 0.2
                self._probe(node)
            if self.now >= node.next_beat:
                node.next_beat = self.now + 0.2
                self._beat(node)
        self._replicate()
        self._client_write()
        held: list[tuple[float, int, str, Observation | _Wire]] = []
        while self.queue and self.queue[0][0] <= self.now:
            item = heapq.heappop(self.queue)
            node = self.nodes[item[2]]
            if node.agent_up and not self.running(node):
                held.append(item)  # a paused process reads its sockets when it resumes
            else:
                obs = item[3]
                self._feed(node, self._received(node, obs) if isinstance(obs, _Wire) else obs)
        for item in held:
            heapq.heappush(self.queue, (self.nodes[item[2]].paused_until, *item[1:]))
        for node in self.nodes.values():
            if self.running(node) and node.wake_at is not None and node.wake_at <= self.now:
                self._feed(node, Tick())
            self._watchdog(node)

    def _watchdog(self, node: Node) -> None:
        """Armed while active, kicked by a running agent while its vote lasts; a watchdog
        not kicked for its timeout resets the host (MySQL and the VIP go, then the agent
        starts again)."""
        if node.reboot_at is not None and self.now >= node.reboot_at:
            node.reboot_at = None
            self._start(node)
        if not node.cfg.watchdog_timeout or not node.agent_up:
            return
        s = node.state
        if self.running(node):
            if s.role is not Role.ACTIVE and not s.demoting:
                node.kicked_at = None  # disarmed (magic close) once the VIP is released
            elif may_kick(node.cfg, s, self.now) or node.kicked_at is None:
                node.kicked_at = self.now  # kicked, or armed on becoming active
        if node.kicked_at is not None and self.now - node.kicked_at > node.cfg.watchdog_timeout:
            self.log.append(f"{self.now:7.2f} WATCHDOG reset {node.name}")
            self.crash_agent(node.name)
            node.vip = False
            node.mysql.alive, node.mysql.writable, node.mysql.sessions = False, False, 0
            self._drop_sessions(node.name)
            node.mysql.alive = True  # it reboots read-only; the agent comes back later
            node.kicked_at = None
            node.reboot_at = self.now + 1.0

    def _probe(self, node: Node) -> None:
        m, peer = node.mysql, self.peer(node)
        if m.up:
            ex = m.executed()
            probe = MysqlProbed(
                ok=True,
                writable=m.writable,
                replicating=m.applying,
                executed=ex,
                received=ex,
                origin=str(m.server_id),
            )
        else:
            probe = MysqlProbed(ok=False, failure=ProbeFailure.UNAVAILABLE, detail="down")
        self._feed(node, probe)
        # The VIP and ping observers report every interval; the core keeps only their
        # last value (and counts lost ping rounds), so an unchanged healthy one is skipped
        # here (a third fewer decisions).
        if node.state.vip_held is not node.vip:
            self._feed(node, VipObserved(held=node.vip, carrier=True))
        reached = self.both_ways(node.name, peer.name)
        refused = reached and not peer.mysql.alive  # its host resets the connection
        self._feed(node, PeerSqlProbed(peer.mysql.up and reached, refused=refused))
        ping = self.link(node.name, "gw")
        if node.cfg.ping and (node.state.evidence.ping_ok is not ping or not ping):
            self._feed(node, PingProbed(ping))  # every lost round counts (PING_ROUNDS)

    def _beat(self, node: Node) -> None:
        s, peer = node.state, self.peer(node)
        node.seq += 1
        node.sent[node.seq] = self.now
        ev, ad = s.evidence, advert(s)
        promise = node.cfg.promise if ev.promising else 0.0
        for link in ("lan", "hb"):
            beat = PeerBeat(
                node=node.name,
                boot_id=node.boot,
                epoch=ad.epoch,
                role=ad.role,
                mysql=s.local.health,
                writable=ad.writable,
                vip_held=node.vip,
                yielding=ad.yielding,
                executed=ad.executed,
                received=ad.received,
                wants_takeover=s.wants_takeover,
                seq=node.seq,
                promise_until=None,
                maintenance=s.durable.maintenance,
                maintenance_version=s.durable.maintenance_version,
            )
            ack_boot = s.peer.beat.boot_id if s.peer.beat else 0
            self._send(node.name, peer.name, _Wire(beat, ack_boot, s.peer.seq, promise, link))

    def _received(self, node: Node, wire: _Wire) -> PeerBeatReceived:
        """What the agent's receive path does: anchor the peer's promise on our own send
        time of the beat it echoes (from this boot of ours only)."""
        until = None
        sent = node.sent.get(wire.ack_seq) if wire.ack_boot == node.boot else None
        if wire.promise > 0 and sent is not None:
            until = sent + wire.promise
        return PeerBeatReceived(wire.link, replace(wire.beat, promise_until=until))

    def _replicate(self) -> None:
        for node in self.nodes.values():
            src = self.peer(node)
            if (
                node.mysql.up
                and src.mysql.up
                and node.mysql.applying
                and self.both_ways(node.name, src.name)
            ):
                for domain, seq in src.mysql.seqs.items():
                    if node.mysql.seqs.get(domain, 0) < seq:
                        node.mysql.seqs[domain] = seq

    def _client_write(self) -> None:
        """Each writer writes through its session, acknowledged when the server takes it;
        a failed session reconnects through the VIP (a single holder the client reaches).
        A session on a frozen server stays, its statement in flight and unanswered, until
        the gate destroys it or the client's read timeout (``READ_TIMEOUT``) gives up."""
        for client, name in self.sessions.items():
            server = self.nodes[name] if name else None
            if server is not None and self._blocked(client, server):
                continue
            self.blocked_since.pop(client, None)
            if server is None or not self._serves(server):
                if server is not None:
                    server.mysql.sessions = max(0, server.mysql.sessions - 1)
                holders = [n for n in self.nodes.values() if n.vip and self.link("client", n.name)]
                holders = [n for n in holders if not n.gated]  # a shut gate refuses at once
                self.sessions[client] = None
                if len(holders) == 1 and holders[0].mysql.up:
                    self.sessions[client] = holders[0].name
                    holders[0].mysql.sessions += 1
                continue
            domain = server.mysql.server_id
            server.mysql.seqs[domain] = server.mysql.seqs.get(domain, 0) + 1
            self.acked.append((domain, server.mysql.seqs[domain]))
            if self.semisync:  # acknowledged once the peer has it, when it can get it
                self._replicate()

    def _blocked(self, client: str, server: Node) -> bool:
        """The client waits on a frozen server that it still reaches through an open gate,
        within its read timeout."""
        m = server.mysql
        if not (m.alive and m.frozen and m.sessions and not server.gated):
            return False
        if not self.link("client", server.name):
            return False
        since = self.blocked_since.setdefault(client, self.now)
        return self.now - since < READ_TIMEOUT

    def _drop_sessions(self, name: str) -> None:
        for client, server in self.sessions.items():
            if server == name:
                self.sessions[client] = None

    def _serves(self, node: Node) -> bool:
        m = node.mysql
        reach = self.link("client", node.name) and not node.gated
        return m.up and m.writable and m.sessions > 0 and reach

    # ------------------------------------------------------------ checks

    def writers(self) -> list[str]:
        """Servers holding the VIP and writable: where a client connecting now would write."""
        return [n.name for n in self.nodes.values() if n.vip and n.mysql.up and n.mysql.writable]

    def acknowledging(self) -> list[str]:
        """Servers that acknowledge a client's write at this step: writable with a session
        the client still reaches, VIP or not. Two at once are two writers."""
        return [n.name for n in self.nodes.values() if self._serves(n)]

    def vip_holders(self) -> list[str]:
        return [n.name for n in self.nodes.values() if n.vip]

    def settled(self) -> bool:
        roles = sorted(n.state.role.value for n in self.nodes.values() if n.agent_up)
        return len(self.writers()) == 1 and roles in (["active", "standby"], ["active", "fenced"])

    def unaccounted(self) -> list[tuple[int, int]]:
        """Acknowledged writes that are neither on the active nor in a lost-writes report
        (a fenced node's transactions the active lacks, shown by ``rejoin --analyze``)."""
        active = [n for n in self.nodes.values() if n.state.role is Role.ACTIVE and n.agent_up]
        if len(active) != 1:
            return []
        fenced = [n for n in self.nodes.values() if n.state.role is Role.FENCED]
        return [
            w
            for w in self.acked
            if not active[0].mysql.has(*w) and not any(f.mysql.has(*w) for f in fenced)
        ]

    # ------------------------------------------------------------ faults

    def crash_agent(self, name: str) -> None:
        node = self.nodes[name]
        node.agent_up = False
        self.queue = [q for q in self.queue if q[2] != name]
        heapq.heapify(self.queue)

    def restart_agent(self, name: str) -> None:
        self._start(self.nodes[name])

    def pause_agent(self, name: str, until: float) -> None:
        self.nodes[name].paused_until = until

    def set_mysql(
        self, name: str, *, alive: bool | None = None, frozen: bool | None = None
    ) -> None:
        m = self.nodes[name].mysql
        if frozen is not None:
            m.frozen = frozen
        if alive is not None:
            m.alive = alive
            if alive:
                m.writable = False  # a restarted server comes up read-only (my.cnf)
            else:
                m.sessions = 0

    def partition(self, a: str, b: str) -> None:
        self.cut.add(frozenset((a, b)))

    def drop(self, src: str, dst: str) -> None:
        """One-way loss: IP from ``src`` to ``dst`` is dropped; ARP still passes."""
        self.dropped.add((src, dst))

    def isolate(self, host: str) -> None:
        for other in ("db1", "db2", "arb", "gw", "client"):
            if other != host:
                self.cut.add(frozenset((host, other)))

    def heal(self) -> None:
        self.cut.clear()
        self.dropped.clear()
        self.arb_up = True


@dataclass(frozen=True)
class _Wire:
    """A beat in flight: the peer's beat plus the echo and promise the agent adds."""

    beat: PeerBeat
    ack_boot: int
    ack_seq: int
    promise: float
    link: str


def failures(one: Callable[[int], str | None], seeds: Iterable[int]) -> list[str]:
    """Run ``one`` over ``seeds`` in a process pool (a failing seed's message, else None)."""
    workers = min(os.cpu_count() or 1, 4)
    with multiprocessing.get_context("fork").Pool(workers) as pool:
        return [f for f in pool.imap_unordered(one, seeds, chunksize=25) if f]


def assert_seeds_pass(one: Callable[[int], str | None], seeds: range, test_file: str) -> None:
    """Run ``one`` over ``seeds`` (``failures``); on any failure, fail the test naming how
    many, three of them, and the command that replays the first with its event log
    (``DUALBEAT_SIM_SEED``, the module's ``-k replay`` test)."""
    failed = failures(one, seeds)
    if failed:
        seed = min(int(f.split()[1].rstrip(":")) for f in failed)
        pytest.fail(
            f"{len(failed)} of {len(seeds)} seeds failed, e.g. {sorted(failed)[:3]}\n"
            f"rerun the first with its event log:\n  DUALBEAT_SIM_SEED={seed} python3 -m "
            f"pytest -q {test_file} -k replay"
        )
