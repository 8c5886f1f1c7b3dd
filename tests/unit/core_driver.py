"""A fake-clock driver for the pure core: feed observations, read back actions and reasons."""

from __future__ import annotations

from dataclasses import dataclass, field

from dualbeat.core.actions import Action, PrepareTakeover
from dualbeat.core.decide import decide
from dualbeat.core.durable import Durable
from dualbeat.core.gtid import MariadbGtidSet
from dualbeat.core.observations import (
    ActionDone,
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
from dualbeat.core.state import CoreConfig, Decision, NodeState

DB1 = CoreConfig(node="db1", peer="db2", priority=0)
DB2 = CoreConfig(node="db2", peer="db1", priority=1)


def gtids(text: str) -> MariadbGtidSet:
    return MariadbGtidSet.parse(text)


def peer_beat(
    role: Role,
    *,
    node: str = "db2",
    epoch: int = 0,
    mysql: Health = Health.HEALTHY,
    writable: bool | None = None,
    vip_held: bool | None = None,
    yielding: bool = False,
    executed: str = "1-1-10",
    wants_takeover: bool = False,
    final: str | None = None,
) -> PeerBeat:
    active = role is Role.ACTIVE
    return PeerBeat(
        node=node,
        boot_id=1,
        epoch=epoch,
        role=role,
        mysql=mysql,
        writable=active if writable is None else writable,
        vip_held=active if vip_held is None else vip_held,
        yielding=yielding,
        executed=gtids(executed),
        received=gtids(executed),
        wants_takeover=wants_takeover,
        final=gtids(final) if final is not None else None,
    )


@dataclass
class Driver:
    cfg: CoreConfig = DB1
    now: float = 0.0
    state: NodeState = field(default_factory=NodeState)
    decisions: list[Decision] = field(default_factory=list)
    _settled: int = 0

    def start(self, durable: Durable | None = None) -> Decision:
        return self.feed(Started(boot_id=1, durable=durable or Durable()))

    def feed(self, obs: Observation) -> Decision:
        decision = decide(self.cfg, self.state, obs, self.now)
        self.state = decision.state
        self.decisions.append(decision)
        return decision

    def at(self, now: float, obs: Observation | None = None) -> Decision:
        self.now = now
        return self.feed(obs or Tick())

    def probe(
        self,
        *,
        ok: bool = True,
        writable: bool = False,
        executed: str = "1-1-10",
        failure: ProbeFailure | None = None,
        replicating: bool | None = True,
        io_stopped: bool | None = None,
    ) -> Decision:
        if not ok:
            return self.feed(
                MysqlProbed(ok=False, failure=failure or ProbeFailure.UNAVAILABLE, detail="boom")
            )
        return self.feed(
            MysqlProbed(
                ok=True,
                writable=writable,
                replicating=replicating,
                io_stopped=io_stopped,
                executed=gtids(executed),
                received=gtids(executed),
                origin=self.cfg.node.removeprefix("db"),  # db1 is server 1, db2 server 2
            )
        )

    def healthy(self, **kwargs: object) -> Decision:
        self.probe(**kwargs)  # type: ignore[arg-type]
        return self.probe(**kwargs)  # type: ignore[arg-type]

    def hear(self, beat: PeerBeat, link: str = "lan") -> Decision:
        return self.feed(PeerBeatReceived(link, beat))

    def vip(self, held: bool, carrier: bool = True) -> Decision:
        return self.feed(VipObserved(held=held, carrier=carrier))

    def peer_sql(self, reachable: bool) -> Decision:
        return self.feed(PeerSqlProbed(reachable))

    def settle(self, *, executed: str = "1-1-10", limit: int = 100) -> None:
        """Report every action issued so far as done (PrepareTakeover as fully applied),
        including the actions those reports cause, until nothing is outstanding."""
        for _ in range(limit):
            pending = [a for d in self.decisions[self._settled :] for a in d.actions]
            self._settled = len(self.decisions)
            if not pending:
                return
            for action in pending:
                if isinstance(action, PrepareTakeover):
                    self.feed(
                        TakeoverPrepared(gtids(executed), gtids(executed), MariadbGtidSet(), True)
                    )
                else:
                    self.feed(ActionDone(action))
        raise AssertionError("actions never settled")

    def codes(self) -> list[str]:
        return [r.code for d in self.decisions for r in d.reasons]

    def actions(self) -> list[Action]:
        return [a for d in self.decisions for a in d.actions]

    def role(self) -> Role:
        """A method, not a property: mypy would narrow a property across feeds."""
        return self.state.role


def promoted_active(cfg: CoreConfig = DB1) -> Driver:
    """A node that took over alone after initdead, fully through the promotion."""
    d = Driver(cfg)
    d.start()
    d.healthy()
    d.vip(held=False)
    d.at(10.5)
    d.peer_sql(False)
    assert d.role() is Role.ACTIVE
    d.settle()
    d.at(11.0)
    d.vip(held=True)
    d.probe(writable=True)
    d.settle()
    assert "PROMOTED" in d.codes()
    d.at(12.0)
    return d
