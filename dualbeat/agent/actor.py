"""The actor: carries out the core's actions in a worker thread, one batch at a time.

Each action is bounded (MySQL statements by the connection's timeouts, hooks by
``[hooks].timeout``, ARP by its own) and reported back as an observation. When a
*critical* action fails, the rest of its batch is skipped and reported as such, so a
promotion never makes MySQL writable after failing to record its epoch. When the local
server is unreachable, the remaining MySQL steps of the batch are skipped at once instead
of each waiting for its own timeout. Hooks that report a change (all but pre-promote)
run in a thread of their own: a slow script never delays the next batch.

Two lanes. The head of a batch made only of steps that never touch MySQL (shutting the
client gate, releasing the VIP, sending a beat) runs on the *handoff* lane at once; the
rest waits its turn on the main lane. A demotion must not queue behind a statement still
waiting on a frozen server (a probe-driven ``SetSemiSync``, a takeover's long wait): its
VIP release takes milliseconds whatever MySQL does. Because the lanes run side by side, a
batch queued on the main lane before a demotion skips its steps that would make this node
serve again (writable, the VIP, the open gate): the demotion superseded them.
"""

from __future__ import annotations

import json
import logging
import queue
import threading
import time
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field, replace
from typing import assert_never

from dualbeat.agent import hooks, statefile
from dualbeat.agent.fence import run_fence
from dualbeat.agent.leases import LeaseWorker
from dualbeat.agent.rejoiner import RejoinWorker
from dualbeat.config import Config, semisync_timeout
from dualbeat.core.actions import (
    AcquireLease,
    Action,
    AdmitClients,
    AnnounceVip,
    AutoRejoin,
    ClaimVip,
    Exit,
    Fence,
    HookEvent,
    KillSessions,
    PersistState,
    PrepareTakeover,
    ReadPosition,
    ReleaseLease,
    ReleaseVip,
    RenewLease,
    RunHook,
    SendBeat,
    SetReadOnly,
    SetSemiSync,
    ShutClients,
    StartReplication,
    StopReplication,
    is_critical,
)
from dualbeat.core.durable import Durable
from dualbeat.core.gtid import GtidSet, parse_gtid_set
from dualbeat.core.observations import (
    ActionDone,
    ActionFailed,
    Observation,
    PositionRead,
    TakeoverPrepared,
)
from dualbeat.core.roles import Role
from dualbeat.errors import DualbeatError, MysqlUnavailable
from dualbeat.gate.acks import AckTrail
from dualbeat.gate.base import ClientGate, Shut
from dualbeat.mysql import control
from dualbeat.mysql.connection import Connect, Endpoint, Server
from dualbeat.mysql.internal import client_view
from dualbeat.mysql.replica_status import GtidFamily
from dualbeat.vip.manager import VipManager

log = logging.getLogger("dualbeat.actor")
#: How long a released VIP stays, ARP-silent behind the shut gate, refusing clients with a
#: reset (the new holder's gratuitous ARP normally moves them within ~0.2 s).
RELEASE_GRACE = 2.0
#: Bound on a demotion's main-lane wait for its gate (each handoff step is bounded and
#: takes milliseconds: a stuck ``nft`` must not stall the MySQL steps for ever).
HEAD_WAIT = 5.0
Post = Callable[[Observation], None]
# Never touch MySQL and take milliseconds: may run ahead of the main lane.
_HANDOFF_ACTIONS = (ShutClients, ReleaseVip, SendBeat)
# What a demotion supersedes when it was queued before it.
_SERVING_ACTIONS = (ClaimVip, AnnounceVip, AdmitClients)
_MYSQL_ACTIONS = (
    SetReadOnly,
    KillSessions,
    PrepareTakeover,
    ReadPosition,
    StopReplication,
    StartReplication,
    SetSemiSync,
)


@dataclass(frozen=True)
class _Queued:
    """A batch, with how many demotions had been submitted when it was; ``done`` is set
    once it ran, ``after`` is the head of its decision that must have run first."""

    batch: tuple[Action, ...]
    demotions: int
    done: threading.Event = field(default_factory=threading.Event)
    after: threading.Event | None = None


def _serving(action: Action) -> bool:
    """Whether ``action`` would make this node serve clients (writable, the VIP)."""
    return isinstance(action, _SERVING_ACTIONS) or action == SetReadOnly(False)


def _notifies(action: Action) -> bool:
    """A hook that reports a change already made (role change, failover, fence): it runs
    in the hook thread. A pre-promote hook is a step of the promotion and stays in it."""
    return isinstance(action, RunHook) and action.event is not HookEvent.PRE_PROMOTE


class Actor:
    def __init__(
        self,
        config: Config,
        node: str,
        endpoint: Endpoint,
        vip: VipManager | None,
        post: Post,
        leases: LeaseWorker | None = None,
        rejoiner: RejoinWorker | None = None,
        connect: Connect = Server,
        gate: ClientGate | None = None,
        acks: AckTrail | None = None,
    ) -> None:
        self.config, self.node, self.vip, self.post = config, node, vip, post
        self.gate = gate
        # Told of our own changes of semi-sync's source side (``gate.acks``).
        self.acks = acks or AckTrail()
        self.leases, self.rejoiner = leases, rejoiner
        self.state_dir = config.state_dir(node)
        self._durable: Durable | None = None  # as last persisted: the epoch row's source
        # Our own writes go to our own GTID domain; positions we report leave both nodes'
        # internal domains out, as every comparison between the nodes does (mysql.internal).
        self.domain = config.internal_domain(node)
        self.internal = config.internal_domains()
        self._recorded_epoch: int | None = None
        # Demotion statements must give up fast on a hung server; the takeover wait is long.
        # Both are used rarely: a connection idle for a second is checked before use, so
        # a mysqld restarted since cannot fail the next promotion with a stale socket.
        self.fast = connect(
            replace(endpoint, connect_timeout=0.5, read_timeout=1.0), idle_check=1.0
        )
        self.slow = connect(
            replace(
                endpoint, connect_timeout=1.0, read_timeout=config.replication.apply_timeout + 2.0
            ),
            idle_check=1.0,
        )
        self._demotions = 0  # handoff heads submitted so far (read by the main lane)
        self._queue: queue.Queue[_Queued | None] = queue.Queue()
        self._handoff: queue.Queue[_Queued | None] = queue.Queue()
        # Hooks run for up to [hooks].timeout: in their own thread, so a role-change
        # script never delays the next batch (a demotion). See ``_notifies``.
        self._hooks: queue.Queue[_Queued | None] = queue.Queue()
        self._threads = [
            threading.Thread(
                target=self._run, args=(q, q is self._hooks), name=f"dualbeat-{name}", daemon=True
            )
            for name, q in (
                ("actor", self._queue),
                ("handoff", self._handoff),
                ("hooks", self._hooks),
            )
        ]
        for thread in self._threads:
            thread.start()

    def submit(self, actions: Sequence[Action]) -> None:
        """Lease actions go to the arbiter's own worker, an automatic rejoin to its own;
        a head of handoff steps to the handoff lane; the rest run as one batch on the
        main lane."""
        batch = []
        for action in actions:
            if isinstance(action, AutoRejoin):
                if self.rejoiner is not None:
                    self.rejoiner.submit(action)
                else:
                    self.post(ActionFailed(action, "no rejoin worker in this agent"))
            elif isinstance(action, AcquireLease | RenewLease | ReleaseLease):
                if self.leases is not None:
                    self.leases.submit(action)
                else:
                    self.post(ActionFailed(action, "no [arbiter] configured"))
            else:
                batch.append(action)
        split = next(
            (i for i, a in enumerate(batch) if not isinstance(a, _HANDOFF_ACTIONS)), len(batch)
        )
        head, rest = tuple(batch[:split]), tuple(batch[split:])
        if any(isinstance(a, ShutClients | ReleaseVip) for a in head):
            self._demotions += 1
        first = _Queued(head, self._demotions) if head else None
        if first is not None:
            self._handoff.put(first)
        if rest:
            # The rest of a demotion runs after its gate is shut, never beside it: a
            # handover's MySQL steps and release would otherwise race the gate (sessions
            # killed while clients can still reconnect, a release that finds ARP not yet
            # silenced and drops the address at once). The head takes milliseconds and
            # never touches MySQL; other heads (a beat) need no such order.
            gated = any(isinstance(a, ShutClients) for a in head)
            after = first.done if first is not None and gated else None
            self._queue.put(_Queued(rest, self._demotions, after=after))

    def close(self, timeout: float = 5.0) -> None:
        for q in (self._queue, self._handoff, self._hooks):
            q.put(None)
        for thread in self._threads:
            thread.join(timeout)
        if self.leases is not None:
            self.leases.close()
        if self.rejoiner is not None:
            self.rejoiner.close()
        self.fast.close()
        self.slow.close()

    def _run(self, lane: queue.Queue[_Queued | None], hook_thread: bool = False) -> None:
        while (queued := lane.get()) is not None:
            if queued.after is not None and not queued.after.wait(HEAD_WAIT):
                log.warning("the handoff steps before this batch took over %g s", HEAD_WAIT)
            try:
                self._batch(queued, hook_thread=hook_thread)
            finally:
                queued.done.set()

    def _batch(self, queued: _Queued, *, hook_thread: bool = False) -> None:
        """Run a batch in order; in the actor's lanes, notifying hooks are passed on to
        the hook thread when reached, so a batch cut short skips its hooks too."""
        skip_all = skip_mysql = ""
        superseded = queued.demotions < self._demotions
        for action in queued.batch:
            if superseded and _serving(action):
                self.post(ActionFailed(action, "skipped: a later demotion superseded it"))
                continue
            if skip_all or (skip_mysql and isinstance(action, _MYSQL_ACTIONS)):
                self.post(ActionFailed(action, f"skipped: {skip_all or skip_mysql}"))
                continue
            if _notifies(action) and not hook_thread:
                self._hooks.put(_Queued((action,), queued.demotions))  # run beside the rest
                continue
            started = time.monotonic()
            try:
                outcome = self._do(action)
            except (DualbeatError, hooks.HookFailed, OSError) as exc:
                log.warning(
                    "%s failed after %.0f ms: %s",
                    type(action).__name__,
                    (time.monotonic() - started) * 1000,
                    exc,
                )
                self.post(ActionFailed(action, str(exc)))
                if isinstance(exc, MysqlUnavailable):
                    skip_mysql = "the local MySQL is unreachable"
                if is_critical(action):
                    skip_all = f"{type(action).__name__} failed"
            else:
                detail = outcome.detail if isinstance(outcome, ActionDone) else ""
                log.info(
                    "%s done in %.0f ms%s",
                    type(action).__name__,
                    (time.monotonic() - started) * 1000,
                    f": {detail}" if detail else "",
                )
                self.post(outcome)

    def _do(self, action: Action) -> Observation:
        match action:
            case SetReadOnly(on=on):
                control.set_read_only(self.fast, on)
                if on:
                    return ActionDone(action)
                # Now the writer: the write probe's table, then the epoch row, written
                # only now that the server takes writes anyway (never through read_only),
                # both in our own GTID domain.
                control.ensure_schema(self.fast, domain=self.domain)
                return ActionDone(action, self._record_epoch())
            case KillSessions():
                killed = control.kill_client_sessions(
                    self.fast, spare_users={self.config.mysql.user}
                )
                return ActionDone(action, f"killed {len(killed)} session(s)")
            case ClaimVip() | ShutClients() | AdmitClients() | ReleaseVip() | AnnounceVip():
                return self._address(action)
            case PrepareTakeover(timeout=timeout, target=target):
                wanted = str(target) if target is not None else ""
                point = control.prepare_takeover(self.slow, timeout, target=wanted)
                family = self.slow.dialect.gtid_family
                unapplied = self._view(point.unapplied, family)
                return TakeoverPrepared(
                    executed=self._view(point.executed, family),
                    received=self._view(point.received, family),
                    unapplied=unapplied,
                    applied_all=point.applied_all or unapplied.is_empty(),
                )
            case ReadPosition():
                family = self.fast.dialect.gtid_family
                return PositionRead(self._view(control.executed_gtids(self.fast), family))
            case StopReplication():
                control.stop_replication(self.fast)
                return ActionDone(action)
            case StartReplication():
                control.start_replication(self.fast)
                return ActionDone(action)
            case PersistState(durable=durable):
                statefile.save(self.state_dir, durable)
                self._durable = durable
                return ActionDone(action, "state file written")
            case SetSemiSync(source=source, behind_gate=behind_gate):
                if not self.config.replication.semisync:
                    return ActionDone(action, "semi-sync disabled in the config")
                timeout_ms = int(semisync_timeout(self.config) * 1000)
                gate: AbstractContextManager[Shut | None] = nullcontext()
                if behind_gate and self.gate is not None and self.acks.waiting():
                    gate = self.gate.shut_briefly()
                with gate as shut, self.acks.changing() as began:
                    changed = control.configure_semisync(
                        self.fast, source=source, timeout_ms=timeout_ms, before_change=began
                    )
                detail = "changed" if changed else "unchanged"
                if shut is not None:
                    detail += f" behind the shut client gate ({shut.destroyed} destroyed)"
                return ActionDone(action, detail)
            case RunHook(event=event, env=env):
                return ActionDone(action, hooks.run_hook(self.config, self.node, event, env))
            case Fence():
                env = {
                    "DUALBEAT_NODE": self.node,
                    "DUALBEAT_PEER": self.config.peer_of(self.node).name,
                }
                result = run_fence(self.config.fence, env)
                if not result.ok:
                    raise hooks.HookFailed(f"fence hook failed: {result.detail}")
                return ActionDone(action, result.detail)
            case AcquireLease() | RenewLease() | ReleaseLease():
                raise AssertionError("lease actions go to the lease worker")
            case AutoRejoin():
                raise AssertionError("an automatic rejoin goes to the rejoin worker")
            case SendBeat() | Exit():
                # Done in order with the batch; the runtime acts on the report.
                return ActionDone(action)
            case _:
                assert_never(action)

    def _view(self, text: str, family: GtidFamily) -> GtidSet:
        return client_view(parse_gtid_set(text, family), self.internal)

    def _address(
        self, action: ClaimVip | ShutClients | AdmitClients | ReleaseVip | AnnounceVip
    ) -> Observation:
        """The VIP and the client gate: no MySQL, milliseconds each."""
        match action:
            case ClaimVip(force=force, probe=probe):
                if self.vip is None:
                    return ActionDone(action, "no VIP configured")
                assert self.config.vip is not None
                if self.gate is not None:
                    self.gate.answer_arp()  # silenced by a past release: answer again first
                held_elsewhere = self.vip.claim(self.config.vip.arp_count, force=force, probe=probe)
                if held_elsewhere:
                    return ActionDone(action, f"also held by {held_elsewhere} (refusing MySQL)")
                return ActionDone(action, "" if probe else "no ARP probe: the peer released it")
            case ShutClients():
                if self.gate is None:
                    return ActionDone(action, "no client gate (no VIP configured)")
                shut = self.gate.shut()
                return ActionDone(action, f"destroyed {shut.destroyed} client connection(s)")
            case AdmitClients():
                if self.gate is not None:
                    self.gate.open()
                return ActionDone(action)
            case ReleaseVip():
                if self.vip is None:
                    return ActionDone(action)
                # Behind a shut gate that also silenced ARP, the address stays a moment,
                # refusing SYNs with a reset until the new holder's gratuitous ARP.
                silent = self.gate is not None and self.gate.is_arp_silent()
                self.vip.release(grace=RELEASE_GRACE if silent else 0.0)
                return ActionDone(action, f"refusing for {RELEASE_GRACE:g} s" if silent else "")
            case AnnounceVip():
                if self.vip is not None:
                    self.vip.announce(1)
                return ActionDone(action)
            case _:
                assert_never(action)

    def _record_epoch(self) -> str:
        """Best effort, and only by the active, right after read_only went off: a write
        on a read-only server (the agent's account may write through it) would itself be
        an errant transaction. The state file is what decides. Once per epoch: each row
        written is a binlogged transaction, if only in our own domain."""
        durable = self._durable or statefile.load(self.state_dir)
        if durable.last_role is not Role.ACTIVE:
            return "writable; no epoch to record"
        if durable.epoch == self._recorded_epoch:
            return "writable; epoch table already holds this epoch"
        takeover = json.dumps(statefile.to_json(durable)["last_takeover"], default=str)
        try:
            control.record_epoch(self.fast, durable.epoch, self.node, takeover, domain=self.domain)
        except DualbeatError as exc:
            return f"writable; epoch table not updated: {exc}"
        self._recorded_epoch = durable.epoch
        return "writable; epoch table written"
