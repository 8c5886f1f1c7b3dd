"""Webhooks: the JSON of chosen events POSTed to ``[[webhooks]]`` URLs, with retries.

Off the decision path: the agent's listener only puts the event on a queue; one thread per
webhook delivers it (bounded by ``timeout`` per attempt, ``retries`` more attempts with
backoff), so a dead receiver never delays a decision, a heartbeat or another webhook.
Why httpx: a maintained client with a whole-request timeout and no surprises on redirects.

With ``secret_file`` every POST is signed: ``X-Dualbeat-Timestamp`` (Unix seconds) and
``X-Dualbeat-Signature: sha256=HEX``, the HMAC-SHA256 with the secret over
``TIMESTAMP.BODY`` (the exact bytes sent). The receiver recomputes it, compares in constant
time and rejects old timestamps (a replayed request); docs/integrations.md shows how.

Events come from two places. Decision records name most of them (``PROMOTED``,
``PEER_NEWER_EPOCH``, ``HOLDS_ERRANT``, ``TWO_ACTIVES_*``, ``SEMISYNC_FELL_BACK``).
"Replication broken" is no decision of the core, so it is read from the status: a
standby whose replica threads stopped while it stayed a standby.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
import logging
import queue
import threading
import time
from collections.abc import Callable
from typing import Any, Protocol

import httpx

from dualbeat import __version__
from dualbeat.agent.status import AgentStatus
from dualbeat.api.metrics import promotion_kind
from dualbeat.config import Config, Webhook
from dualbeat.core.roles import Role

log = logging.getLogger("dualbeat.notify")
_FENCING = {"PEER_NEWER_EPOCH", "TWO_ACTIVES_LOSE", "HOLDS_ERRANT"}
_BY_CODE = {
    "HOLDS_ERRANT": "rejoin_needed",
    "REJOIN_AUTO_FAILED": "rejoin_needed",
    "REJOIN_AUTO": "rejoined",
    "REJOIN_AUTO_RESOLVED": "rejoined",
    "TWO_ACTIVES_WIN": "split_brain_risk",
    "TWO_ACTIVES_LOSE": "split_brain_risk",
    "SEMISYNC_FELL_BACK": "semisync_fell_back",
}
_QUEUE_LIMIT = 1000
_BACKOFF_CAP = 5.0


class Notified(Protocol):
    config: Config
    node: str

    def status(self) -> AgentStatus: ...


def events_of(record: dict[str, Any]) -> list[str]:
    """The webhook events a decision record stands for (usually none)."""
    events = []
    kind = promotion_kind(record)
    if kind is not None:
        events.append(kind)
    code = record.get("code")
    if code in _FENCING and record.get("role") == "fenced":
        events.append("fence")
    if code in _BY_CODE:
        events.append(_BY_CODE[str(code)])
    return events


class ReplicationWatch:
    """Replication broken: a standby that replicated, and has not for ``grace`` seconds
    while still a standby. The grace hides the agent's own brief restarts of the I/O
    thread (turning on semi-sync's replica side); one report per breakage."""

    def __init__(self, grace: float) -> None:
        self.grace = grace
        self.replicated = False  # seen replicating as a standby since the last report
        self.stopped_at: float | None = None

    def update(self, status: AgentStatus, now: float) -> bool:
        """Feed one status; True when the breakage is to be reported now."""
        if status.role is not Role.STANDBY:
            self.replicated, self.stopped_at = False, None
            return False
        if status.mysql.replicating:
            self.replicated, self.stopped_at = True, None
            return False
        if not self.replicated:
            return False
        if self.stopped_at is None:
            self.stopped_at = now
        if now - self.stopped_at < self.grace:
            return False
        self.replicated, self.stopped_at = False, None
        return True


def signed(
    payload: dict[str, Any], secret: bytes | None, now: float
) -> tuple[bytes, dict[str, str]]:
    """The body to POST and its headers: JSON, and the signature headers with a secret."""
    body = json.dumps(payload, separators=(",", ":"), sort_keys=True).encode()
    headers = {"Content-Type": "application/json"}
    if secret is not None:
        timestamp = str(int(now))
        digest = hmac.new(secret, timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
        headers["X-Dualbeat-Timestamp"] = timestamp
        headers["X-Dualbeat-Signature"] = f"sha256={digest}"
    return body, headers


class Delivery:
    """One webhook's queue and thread."""

    def __init__(self, hook: Webhook) -> None:
        self.hook = hook
        self.queue: queue.Queue[dict[str, Any] | None] = queue.Queue(_QUEUE_LIMIT)
        path = hook.secret_file  # read once at start: check-config made sure it is there
        self.secret = path.read_bytes().strip() if path is not None else None
        self.thread = threading.Thread(target=self._run, name="dualbeat-webhook", daemon=True)

    def put(self, payload: dict[str, Any]) -> None:
        try:
            self.queue.put_nowait(payload)
        except queue.Full:
            log.warning(
                "webhook %s: queue full, dropping a %s event", self.hook.url, payload["event"]
            )

    def _run(self) -> None:
        headers = {"User-Agent": f"dualbeat/{__version__}"}
        with httpx.Client(timeout=self.hook.timeout, headers=headers) as client:
            while (payload := self.queue.get()) is not None:
                self._deliver(client, payload)

    def _deliver(self, client: httpx.Client, payload: dict[str, Any]) -> None:
        for attempt in range(self.hook.retries + 1):
            try:
                body, headers = signed(payload, self.secret, time.time())
                response = client.post(self.hook.url, content=body, headers=headers)
            except httpx.HTTPError as exc:
                problem = str(exc) or type(exc).__name__
            else:
                if response.is_success:
                    return
                problem = f"HTTP {response.status_code}"
            log.warning(
                "webhook %s: %s event, attempt %d of %d: %s",
                self.hook.url,
                payload["event"],
                attempt + 1,
                self.hook.retries + 1,
                problem,
            )
            if attempt < self.hook.retries:
                time.sleep(min(_BACKOFF_CAP, 0.25 * 2**attempt))

    def close(self, timeout: float) -> None:
        with contextlib.suppress(queue.Full):
            self.queue.put_nowait(None)
        self.thread.join(timeout)


class Notifier:
    """The agent's webhooks: ``listeners`` gets its decision-record listener."""

    def __init__(self, agent: Notified, listeners: list[Callable[[dict[str, Any]], None]]) -> None:
        self.agent = agent
        self.deliveries = [Delivery(hook) for hook in agent.config.webhooks]
        self._watch: asyncio.Task[None] | None = None
        listeners.append(self.observe)

    def start(self) -> None:
        for d in self.deliveries:
            d.thread.start()
        self._watch = asyncio.get_running_loop().create_task(self._watch_status())

    def close(self, timeout: float = 2.0) -> None:
        if self._watch is not None:
            self._watch.cancel()
        for d in self.deliveries:
            d.close(timeout)

    def observe(self, record: dict[str, Any]) -> None:
        for event in events_of(record):
            self.send(event, record)

    def send(self, event: str, record: dict[str, Any]) -> None:
        payload = {
            "event": event,
            "cluster": self.agent.config.cluster,
            "node": self.agent.node,
            "ts": record.get("ts", time.time()),
            "record": record,
        }
        for d in self.deliveries:
            if event in d.hook.events:
                d.put(payload)

    async def _watch_status(self) -> None:
        every = self.agent.config.monitor.interval
        watch = ReplicationWatch(grace=max(1.0, 3 * every))
        while True:
            await asyncio.sleep(every)
            try:
                status = self.agent.status()
            except Exception:  # a bug in status must not silently end the watch
                log.exception("webhooks: reading the agent's status failed")
                continue
            if watch.update(status, time.monotonic()):
                record = {
                    "ts": time.time(),
                    "node": self.agent.node,
                    "role": status.role.value,
                    "epoch": status.epoch,
                    "code": "REPLICATION_BROKEN",
                    "text": "the standby's replica threads are stopped",
                    "evidence": {"detail": status.mysql.detail},
                }
                self.send("replication_broken", record)
