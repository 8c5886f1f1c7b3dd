"""A deterministic simulator for two real cores: fake clock, lossy network, model MySQL.

Each node runs the real ``decide``. The world gives it the observations the agent would:
probes of a model MySQL, VIP checks, the peer's SQL reachability and heartbeats through a
network that loses and delays datagrams. Actions take effect on the model after a random
delay. Faults (MySQL crash, freeze, agent crash) follow a seeded schedule, and invariants
are checked after every step. A failing seed reproduces with
``pytest tests/unit/test_core_simulation.py -k 'seed and 1234'``.
"""

from __future__ import annotations

import heapq
import itertools
import random
from dataclasses import dataclass, field

from dualbeat.core.actions import (
    Action,
    ClaimVip,
    Exit,
    PersistState,
    PrepareTakeover,
    ReleaseVip,
    SetReadOnly,
    StartReplication,
    StopReplication,
)
from dualbeat.core.decide import decide
from dualbeat.core.durable import Durable
from dualbeat.core.gtid import MariadbGtidSet
from dualbeat.core.observations import (
    ActionDone,
    ActionFailed,
    MysqlProbed,
    Observation,
    PeerBeat,
    PeerBeatReceived,
    PeerSqlProbed,
    ProbeFailure,
    Started,
    TakeoverPrepared,
    Tick,
    VipObserved,
)
from dualbeat.core.roles import Health, Role
from dualbeat.core.state import CoreConfig, NodeState

NAMES = ("db1", "db2")
STEP = 0.05


@dataclass
class Mysql:
    """The model server: alive/frozen, read_only, and per-origin transaction counters."""

    server_id: int
    alive: bool = True
    frozen: bool = False
    writable: bool = False
    applying: bool = True  # the replica's SQL thread
    seqs: dict[int, int] = field(default_factory=dict)  # domain (= writer's server id) -> seq

    @property
    def up(self) -> bool:
        return self.alive and not self.frozen

    def executed(self) -> MariadbGtidSet:
        text = ",".join(f"{d}-{d}-{n}" for d, n in sorted(self.seqs.items()) if n)
        return MariadbGtidSet.parse(text)


@dataclass
class Node:
    name: str
    cfg: CoreConfig
    mysql: Mysql
    state: NodeState = field(default_factory=NodeState)
    disk: Durable = field(default_factory=Durable)
    agent_up: bool = True
    vip: bool = False
    boot: int = 0
    next_probe: float = 0.0
    next_beat: float = 0.0
    wake_at: float | None = None


class World:
    def __init__(self, seed: int, *, loss: float = 0.05) -> None:
        self.rng = random.Random(seed)
        self.now = 0.0
        self.loss = loss
        self.nodes = {
            name: Node(
                name,
                CoreConfig(node=name, peer=NAMES[1 - i], priority=i),
                Mysql(server_id=i + 1, writable=(i == 0)),
            )
            for i, name in enumerate(NAMES)
        }
        self.nodes["db1"].vip = False
        self.queue: list[tuple[float, int, str, Observation]] = []
        self.order = itertools.count()
        self.acked: list[tuple[int, int]] = []  # (domain, seq) of acknowledged client writes
        self.log: list[str] = []
        for node in self.nodes.values():
            self._start(node)

    # ------------------------------------------------------------ plumbing

    def peer(self, node: Node) -> Node:
        return self.nodes[node.cfg.peer]

    def _deliver(self, at: float, node: str, obs: Observation) -> None:
        heapq.heappush(self.queue, (at, next(self.order), node, obs))

    def _feed(self, node: Node, obs: Observation) -> None:
        if not node.agent_up:
            return
        d = decide(node.cfg, node.state, obs, self.now)
        node.state, node.wake_at = d.state, d.wake_at
        for r in d.reasons:
            self.log.append(f"{self.now:7.2f} {node.name} {r.code}")
        for delay, action in zip(
            itertools.accumulate(self.rng.uniform(0.0, 0.05) for _ in d.actions),
            d.actions,
            strict=True,
        ):
            self._deliver(self.now + delay, node.name, self._outcome(node, action, delay))

    def _outcome(self, node: Node, action: Action, delay: float) -> Observation:
        """Carry the action out on the model now (its effect lands with its report)."""
        m, peer = node.mysql, self.peer(node)
        mysql_actions = (SetReadOnly, PrepareTakeover, StartReplication, StopReplication)
        if isinstance(action, mysql_actions) and not m.up:
            return ActionFailed(action, "server unavailable")
        match action:
            case SetReadOnly(on=on):
                m.writable = not on
            case ClaimVip():
                if peer.vip:  # the ARP probe: the other host answers
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
            case Exit():
                node.agent_up = False
        return ActionDone(action)

    def _start(self, node: Node) -> None:
        node.agent_up, node.boot = True, node.boot + 1
        node.state = NodeState()
        self._feed(node, Started(boot_id=node.boot, durable=node.disk))

    # ------------------------------------------------------------ the world's clock

    def step(self) -> None:
        self.now = round(self.now + STEP, 6)
        for node in self.nodes.values():
            if node.agent_up and self.now >= node.next_probe:
                node.next_probe = self.now + 0.2
                self._probe(node)
            if node.agent_up and self.now >= node.next_beat:
                node.next_beat = self.now + 0.2
                self._beat(node)
        self._replicate()
        self._client_write()
        while self.queue and self.queue[0][0] <= self.now:
            _, _, name, obs = heapq.heappop(self.queue)
            self._feed(self.nodes[name], obs)
        for node in self.nodes.values():
            if node.wake_at is not None and node.wake_at <= self.now:
                self._feed(node, Tick())

    def _probe(self, node: Node) -> None:
        m, peer = node.mysql, self.peer(node)
        if m.up:
            probe = MysqlProbed(
                ok=True,
                writable=m.writable,
                replicating=m.applying,
                executed=m.executed(),
                received=m.executed(),
                origin=str(m.server_id),
            )
        else:
            probe = MysqlProbed(ok=False, failure=ProbeFailure.UNAVAILABLE, detail="down")
        self._feed(node, probe)
        self._feed(node, VipObserved(held=node.vip, carrier=True))
        self._feed(node, PeerSqlProbed(peer.mysql.up))

    def _beat(self, node: Node) -> None:
        s = node.state
        beat = PeerBeat(
            node=node.name,
            boot_id=node.boot,
            epoch=s.durable.epoch,
            role=Role.ACTIVE if s.demoting else s.role,
            mysql=s.local.health,
            writable=bool(s.local.writable) and s.local.health is not Health.FAILED,
            vip_held=node.vip,
            yielding=s.yielding and not s.demoting,
            executed=s.local.executed,
            received=s.local.received,
            wants_takeover=s.wants_takeover,
        )
        for link in ("lan", "hb"):
            if self.rng.random() >= self.loss:
                at = self.now + self.rng.uniform(0.0, 0.03)
                self._deliver(at, node.cfg.peer, PeerBeatReceived(link, beat))

    def _replicate(self) -> None:
        for node in self.nodes.values():
            src = self.peer(node)
            if node.mysql.up and src.mysql.up and node.mysql.applying:
                for domain, seq in src.mysql.seqs.items():
                    if node.mysql.seqs.get(domain, 0) < seq:
                        node.mysql.seqs[domain] = seq

    def _client_write(self) -> None:
        """A client writes through the VIP; acknowledged only if the standby has it too
        when semi-sync could apply (both up and replicating), as AFTER_SYNC would."""
        holders = [n for n in self.nodes.values() if n.vip and n.mysql.up and n.mysql.writable]
        if len(holders) != 1:
            return
        node = holders[0]
        domain = node.mysql.server_id
        node.mysql.seqs[domain] = node.mysql.seqs.get(domain, 0) + 1
        self.acked.append((domain, node.mysql.seqs[domain]))

    # ------------------------------------------------------------ faults and checks

    def writers(self) -> list[str]:
        return [n.name for n in self.nodes.values() if n.vip and n.mysql.up and n.mysql.writable]

    def vip_holders(self) -> list[str]:
        return [n.name for n in self.nodes.values() if n.vip]

    def settled(self) -> bool:
        roles = sorted(n.state.role.value for n in self.nodes.values() if n.agent_up)
        return len(self.writers()) == 1 and roles in (["active", "standby"], ["active", "fenced"])

    def crash_agent(self, name: str) -> None:
        node = self.nodes[name]
        node.agent_up = False
        self.queue = [q for q in self.queue if q[2] != name]
        heapq.heapify(self.queue)

    def restart_agent(self, name: str) -> None:
        node = self.nodes[name]
        node.next_probe = node.next_beat = self.now
        self._start(node)

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
