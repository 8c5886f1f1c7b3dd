"""The agent's event loop: the one place where observations meet ``decide``.

Observations arrive on one asyncio queue (heartbeats from the sockets on the loop; probes,
VIP checks and action outcomes from worker threads). Each is fed to the pure core; the
decision's reasons go to the event log first, then its actions to the actor. Heartbeats
go out every keepalive from the current state, and at once when the core asks.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
import sys
import time
from collections import deque
from collections.abc import Callable
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from dualbeat.agent import beats, clock, control, history, statefile
from dualbeat.agent.actor import Actor
from dualbeat.agent.control import ControlAnswer
from dualbeat.agent.history import History
from dualbeat.agent.inbox import Inbox
from dualbeat.agent.leases import LeaseWorker
from dualbeat.agent.observers import Observers
from dualbeat.agent.rejoiner import RejoinWorker
from dualbeat.agent.settings import core_config, monitor_endpoint
from dualbeat.agent.snapshot import View, snapshot
from dualbeat.agent.status import AgentStatus
from dualbeat.agent.watchdog import Watchdog
from dualbeat.arbiter import open_arbiter
from dualbeat.config import Config
from dualbeat.core.actions import Exit, SendBeat
from dualbeat.core.decide import decide
from dualbeat.core.lease import may_kick
from dualbeat.core.observations import (
    ActionDone,
    Command,
    GateWindowOpened,
    Observation,
    OperatorRequested,
    PeerBeatReceived,
    ShutdownRequested,
    Started,
    Tick,
)
from dualbeat.core.reasons import ReasonCode
from dualbeat.core.roles import Role
from dualbeat.core.state import Decision, NodeState
from dualbeat.errors import ConfigError, DualbeatError, VipError, WatchdogError
from dualbeat.gate import window
from dualbeat.gate.acks import AckTrail
from dualbeat.gate.nft import NftGate, spec_from_config
from dualbeat.heartbeat.codec import DropReason
from dualbeat.heartbeat.link import Links, read_key
from dualbeat.heartbeat.message import Beat
from dualbeat.mysql import control as control_sql
from dualbeat.mysql.connection import Server
from dualbeat.vip.manager import VipManager

if TYPE_CHECKING:
    from dualbeat.agent.notify import Notifier
    from dualbeat.api.server import ApiServer

log = logging.getLogger("dualbeat.agent")
_AUTO_REJOIN_CODES = {
    ReasonCode.REJOIN_AUTO,
    ReasonCode.REJOIN_AUTO_RESOLVED,
    ReasonCode.REJOIN_AUTO_FAILED,
}


def _watchdog(config: Config) -> Watchdog | None:
    """The device, when ``[watchdog]`` enables it (opened on the first kick)."""
    return Watchdog(config.watchdog) if config.watchdog.enabled else None


class Agent:
    def __init__(self, config: Config, node: str, *, keep_on_stop: bool = False) -> None:
        self.config, self.node, self.keep_on_stop = config, node, keep_on_stop
        self.cfg = core_config(config, node)
        self.state_dir = config.state_dir(node)
        self.state = NodeState()
        self.key = read_key(config)
        self.seq = 0
        self.sent_times = beats.SentTimes()
        self.watchdog = _watchdog(config)
        self._drop_logged: dict[str, float] = {}
        self.recent: deque[dict[str, Any]] = deque(maxlen=50)
        self.last_auto_rejoin: dict[str, Any] | None = None  # what status shows of it
        self.vip = VipManager(config.vip.address, config.vip.interface) if config.vip else None
        self._queue: Inbox[Observation] = Inbox()
        self._waiters: list[asyncio.Future[Decision]] = []
        self._stopping = False
        # Called with each decision record after it is logged (metrics, webhooks).
        self.listeners: list[Callable[[dict[str, Any]], None]] = []

    # ---------------------------------------------------------------- wiring

    async def run(self) -> None:
        loop = asyncio.get_running_loop()

        def post(obs: Observation) -> None:
            loop.call_soon_threadsafe(self._queue.put, obs)

        self.events = History(self.state_dir, self.node)
        self.links = Links(
            self.config, self.node, self.key, self._on_beat, self._on_drop, clock.now
        )
        await self.links.start()
        arbiter = self.config.arbiter
        leases = LeaseWorker(open_arbiter(arbiter), self.node, post) if arbiter else None
        rejoiner = RejoinWorker(self._auto_rejoin, post)
        # The client gate guards the port clients reach through the VIP: with a VIP only.
        # Its windows say which commits no client was acknowledged (``gate.window``),
        # with the probes' semi-sync counters as the proof for commits still waiting for
        # their acknowledgement when it shut (``gate.acks``).
        acks = AckTrail()
        gate = None
        if self.vip:
            recorder = window.Recorder(
                window.Windows(self.state_dir),
                lambda: self.observers.binlog_base,
                lambda _window: post(GateWindowOpened()),
                acks.unacked_after,
            )
            gate = NftGate(spec_from_config(self.config, self.node), windows=recorder)
        self.actor = Actor(
            self.config,
            self.node,
            monitor_endpoint(self.config, self.node),
            self.vip,
            post,
            leases,
            rejoiner,
            gate=gate,
            acks=acks,
        )
        peer = monitor_endpoint(self.config, self.config.peer_of(self.node).name)
        self.observers = Observers(
            self.config,
            self.node,
            monitor_endpoint(self.config, self.node),
            peer,
            self.vip,
            post,
            self._write_probe,
            peer_quiet=self._peer_quiet,
            acks=acks,
        )
        sock = control.socket_path(self.state_dir)
        sock.unlink(missing_ok=True)
        server = await asyncio.start_unix_server(self._serve, path=str(sock))
        os.chmod(sock, 0o600)
        api, notifier = self._optional_services()
        if api is not None:
            await api.start()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self._queue.put, ShutdownRequested(keep=self.keep_on_stop))
        self.feed(
            Started(
                boot_id=statefile.next_boot_id(self.state_dir, wall_ns=time.time_ns()),
                durable=statefile.load(self.state_dir, server_epoch=self._server_epoch),
                wall_offset=time.time() - clock.now(),
            )
        )
        self.observers.start()
        self._beating = loop.call_soon(self._keepalive)
        if notifier is not None:
            notifier.start()
        try:
            await self._main()
        finally:
            self._beating.cancel()
            if notifier is not None:
                notifier.close()
            if api is not None:
                await api.stop()
            server.close()
            self.observers.stop()
            self.actor.close()
            self._close_vip()
            self._disarm()
            self.links.close()
            sock.unlink(missing_ok=True)
            self.events.close()

    def _close_vip(self) -> None:
        """A release still in its grace is completed now: once the agent is gone nobody
        would remove the address, and the old active would keep the VIP in its kernel
        (ARP-silent) beside the new holder. Kept on ``stop --keep``: nothing released."""
        if self.vip is None:
            return
        try:
            self.vip.close()
        except VipError as exc:
            log.error("could not remove the released VIP at exit: %s", exc)

    async def _main(self) -> None:
        while not self._stopping:
            wake = self._decision_wake
            timeout = None if wake is None else max(0.0, wake - clock.now())
            obs = await self._queue.get(timeout)
            self.feed(Tick() if obs is None else obs)
        await self._linger()

    async def _linger(self) -> None:
        """After a handover, keep beating until the peer is active (or deadtime passes),
        so it hears that we yielded; then stop."""
        deadline = clock.now() + self.cfg.timing.deadtime
        while clock.now() < deadline and self.state.yielding:
            obs = await self._queue.get(self.cfg.timing.keepalive)
            if isinstance(obs, PeerBeatReceived):
                self.state = decide(self.cfg, self.state, obs, clock.now()).state

    def _keepalive(self) -> None:
        """Beat and kick, then again one keepalive later: a timer callback rather than a
        task that sleeps, one turn of the event loop per beat instead of three."""
        self.send_beat()
        self._kick()
        self._beating = asyncio.get_running_loop().call_later(
            self.cfg.timing.keepalive, self._keepalive
        )

    def _kick(self) -> None:
        """The watchdog, armed while active: kicked from the event loop (a hung loop stops
        kicking) and only while the lease or the peer's promise outlasts its timeout;
        disarmed with the magic close once the node is no longer active *and* its
        demotion has released the VIP (a demotion that hangs is what the watchdog is
        for). A device error is logged and retried on the next beat: the core's lease
        rules still hold."""
        if self.watchdog is None:
            return
        try:
            if may_kick(self.cfg, self.state, clock.now()):
                if not self.watchdog.is_open:
                    log.warning("watchdog: %s", self.watchdog.open())
                self.watchdog.kick()
            elif self.state.role is not Role.ACTIVE and not self.state.demoting:
                self._disarm()
        except WatchdogError as exc:
            log.error("watchdog: %s", exc)

    def _server_epoch(self) -> int | None:
        """The epoch our server's ``dualbeat.epoch`` holds, asked only when the state file
        is missing: a first start and a lost state file must not look alike."""
        try:
            with Server(monitor_endpoint(self.config, self.node)) as server:
                return control_sql.read_epoch(server)
        except DualbeatError as exc:
            raise ConfigError(
                f"{self.state_dir / statefile.FILENAME} is missing and the local MySQL cannot "
                f"tell a first start from a lost state file ({exc}); start the agent once "
                "MySQL answers"
            ) from None

    def _disarm(self) -> None:
        if self.watchdog is not None and self.watchdog.is_open:
            self.watchdog.close(magic=True)

    def _peer_quiet(self) -> bool:
        """The peer's last heartbeat is more than two keepalives old (or never came): the
        only time its MySQL is worth probing over SQL (see ``core.findings.peer_dead``)."""
        heard = self.state.peer.heard_at
        return heard is None or clock.now() - heard > 2 * self.cfg.timing.keepalive

    def _write_probe(self) -> tuple[bool, int]:
        s = self.state
        return (s.role is Role.ACTIVE and s.promotion is None, s.durable.epoch)

    def _on_beat(self, link: str, beat: Beat, now: float) -> None:
        family = self.observers.last_probe.gtid_family if self.observers.last_probe else None
        promise = self.sent_times.promise_until(beat, self.state.boot_id)
        boot = self.state.boot_id
        self._queue.put(
            PeerBeatReceived(link, beats.incoming(beat, family, promise, our_boot=boot))
        )

    def _on_drop(self, link: str, reason: DropReason) -> None:
        """Counted per link by ``Links``; logged at most once a minute per link and reason,
        so a flood of forged datagrams cannot flood the log too."""
        if reason is DropReason.DUPLICATE:
            return
        now, key = clock.now(), f"{link}/{reason.value}"
        if now - self._drop_logged.get(key, float("-inf")) >= 60.0:
            self._drop_logged[key] = now
            log.warning("dropping heartbeat datagrams on link %s: %s", link, reason.value)

    def send_beat(self) -> None:
        self.seq += 1
        beat = beats.outgoing(
            self.config.cluster, self.node, self.state, self.seq, self.cfg.promise
        )
        self.sent_times.sent(self.seq, clock.now())
        self.links.send(beat)

    def _auto_rejoin(self) -> str:
        """Resolve a returning node's own writes (``[rejoin] auto``), on the rejoin worker."""
        # Imported on the first rejoin: binlog analysis and checksums are ~40 modules an
        # agent that never rejoins does not need to hold in memory.
        from dualbeat.ops import rejoin as rejoin_ops

        return rejoin_ops.auto_resolve(self.config, self.node)

    def _optional_services(self) -> tuple[ApiServer | None, Notifier | None]:
        """The HTTP API and the webhooks, each imported only when configured: the HTTP
        stack (Starlette, uvicorn) and httpx are most of an idle agent's memory."""
        api = notifier = None
        if self.config.api:
            from dualbeat.api.server import ApiServer

            api = ApiServer(self, self.listeners)
        if self.config.webhooks:
            from dualbeat.agent.notify import Notifier

            notifier = Notifier(self, self.listeners)
        return api, notifier

    # ---------------------------------------------------------------- deciding

    _decision_wake: float | None = None

    def feed(self, obs: Observation) -> Decision:
        decision = decide(self.cfg, self.state, obs, clock.now())
        self.state = decision.state
        self._decision_wake = decision.wake_at
        for record in self.events.decisions(decision):
            self.recent.append(record)
            if record.get("code") in _AUTO_REJOIN_CODES:
                self.last_auto_rejoin = record
            for listener in self.listeners:
                listener(record)
            print(json.dumps(record, default=str, sort_keys=True), file=sys.stderr, flush=True)
        self.actor.submit(decision.actions)
        if isinstance(obs, ActionDone) and isinstance(obs.action, SendBeat):
            self.send_beat()
        if isinstance(obs, ActionDone) and isinstance(obs.action, Exit):
            self._stopping = True
        if isinstance(obs, OperatorRequested):
            for waiter in self._waiters:
                waiter.set_result(decision)
            self._waiters.clear()
        return decision

    # ---------------------------------------------------------------- control

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            request = json.loads(await reader.readline())
            answer = await self._answer(request if isinstance(request, dict) else {})
        except ValueError:
            answer = {"ok": False, "error": "unreadable request"}
        writer.write(json.dumps(answer, default=str).encode() + b"\n")
        await writer.drain()
        writer.close()

    async def _answer(self, request: dict[str, Any]) -> dict[str, Any]:
        cmd = request.get("cmd")
        if cmd == "status":
            return ControlAnswer(ok=True, status=self.status()).to_json()
        if cmd == "maintenance":
            return await self._maintenance(request)
        if cmd == "history":
            return await self._history(request)
        commands = {
            "standby": Command.STANDBY,
            "takeover": Command.TAKEOVER,
            "switchover": Command.SWITCHOVER,
            "rejoined": Command.REJOINED,
        }
        if cmd not in commands:
            return {"ok": False, "error": f"unknown command {cmd!r}"}
        command = commands[cmd]
        if command is Command.TAKEOVER and request.get("force"):
            command = Command.TAKEOVER_FORCE
        waiter: asyncio.Future[Decision] = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        self._queue.put(OperatorRequested(command))
        decision = await waiter
        return ControlAnswer.of(decision).to_json()

    def _probe_latency(self) -> float | None:
        probe = self.observers.last_probe
        return round(probe.latency, 4) if probe is not None and probe.ok else None

    async def _maintenance(self, request: dict[str, Any]) -> dict[str, Any]:
        """``{"cmd": "maintenance", "on": bool}``: pause or resume automation on both nodes
        (the peer follows through the heartbeat); answered once the state file has it."""
        on = request.get("on")
        if not isinstance(on, bool):
            return {"ok": False, "error": f"maintenance: 'on' must be true or false, got {on!r}"}
        waiter: asyncio.Future[Decision] = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        self._queue.put(
            OperatorRequested(Command.MAINTENANCE_ON if on else Command.MAINTENANCE_OFF)
        )
        decision = await waiter
        persisted = await asyncio.to_thread(
            self._persisted, decision.state.durable.maintenance_version
        )
        answer = ControlAnswer.of(decision, maintenance=decision.state.durable.maintenance)
        return replace(answer, persisted=persisted).to_json()

    def _persisted(self, version: int, timeout: float = 5.0) -> bool:
        """Whether the state file holds maintenance ``version`` (or newer) within ``timeout``:
        the answer must not say "paused" before a restart would still know it."""
        deadline = clock.now() + timeout
        while statefile.load(self.state_dir).maintenance_version < version:
            if clock.now() > deadline:
                return False
            time.sleep(0.02)
        return True

    async def _history(self, request: dict[str, Any]) -> dict[str, Any]:
        """``{"cmd": "history", "since": wall-clock seconds | None, "limit": int | None}``:
        the newest ``limit`` records at or after ``since``, oldest first."""
        since, limit = request.get("since"), request.get("limit")
        if since is not None and (isinstance(since, bool) or not isinstance(since, int | float)):
            return {"ok": False, "error": f"history: 'since' must be a number, got {since!r}"}
        if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int)):
            return {"ok": False, "error": f"history: 'limit' must be an integer, got {limit!r}"}
        found = await asyncio.to_thread(
            history.read,
            self.state_dir,
            since=None if since is None else float(since),
            limit=limit,
        )
        return {"ok": True, "events": found.events, "damaged": found.damaged}

    def status(self) -> AgentStatus:
        return snapshot(
            self.state,
            View(
                node=self.node,
                peer=self.cfg.peer,
                cluster=self.config.cluster,
                vip=str(self.config.vip.address) if self.config.vip else None,
                arbiter=self.config.arbiter is not None,
                auto_failback=self.cfg.failback is not None,
                rejoin_auto=self.cfg.rejoin_auto.value,
            ),
            links=self.links.stats(),
            probe_latency=self._probe_latency(),
            recent=list(self.recent)[-10:],
            now=clock.now(),
            last_auto_rejoin=self.last_auto_rejoin,
        )
