"""``AgentStatus``: one node's view of the pair, as the agent reports it.

One typed record for every reader: the control socket sends it (``dualbeat status``, the
workflows in ``dualbeat.ops``), the API serves it (``GET /status``) and reads its health
checks from it. The JSON form is the field names as written here; ``to_json`` and
``from_json`` are the only translations, so a renamed field cannot drift between the agent
and its clients.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pydantic import TypeAdapter

from dualbeat.core.roles import Finding, Health, Role


@dataclass(frozen=True)
class MysqlView:
    """The local MySQL as the last probe saw it."""

    health: Health
    writable: bool | None
    replicating: bool | None
    lag_s: float | None
    executed: str
    received: str
    semisync_active: bool | None
    detail: str
    probe_latency_s: float | None = None


@dataclass(frozen=True)
class VipView:
    address: str | None
    held: bool | None
    carrier: bool | None = None


@dataclass(frozen=True)
class PeerView:
    """The peer as its last heartbeat (and our SQL probe of it) said; ``None`` before
    the first heartbeat."""

    role: Role | None = None
    epoch: int | None = None
    mysql: Health | None = None
    writable: bool | None = None
    vip_held: bool | None = None
    replicating: bool | None = None
    lag_s: float | None = None
    semisync_active: bool | None = None
    maintenance: bool | None = None
    executed: str | None = None
    silent_s: float | None = None
    sql_reachable: bool | None = None


@dataclass(frozen=True)
class LinkView:
    age_s: float | None
    sent: int
    received: int
    send_errors: int
    dropped: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class FailbackView:
    auto: bool = False
    ready_for_s: float | None = None
    last_at: float | None = None


@dataclass(frozen=True)
class LeaseView:
    """The votes that keep an active writable (arbiter mode), and the ping nodes."""

    arbiter: bool = False
    held: bool = False
    valid_s: float | None = None
    holder: str | None = None
    peer_promise_s: float | None = None
    promised_s: float | None = None
    ping_ok: bool | None = None
    high_water: str = ""


@dataclass(frozen=True)
class RejoinView:
    """``[rejoin] auto`` and what it last did: the history record of the latest automatic
    rejoin (``REJOIN_AUTO``) or ``--reapply`` (``REJOIN_AUTO_RESOLVED`` / ``_FAILED``)."""

    auto: str = "internal"
    tries: int = 0  # automatic --reapply runs in the current fencing
    last: dict[str, Any] | None = None


@dataclass(frozen=True)
class AgentStatus:
    node: str
    peer: str
    cluster: str
    role: Role
    epoch: int
    finding: Finding | None
    mysql: MysqlView
    vip: VipView
    peer_view: PeerView
    fenced_reason: str = ""
    promoting: bool = False
    yielding: bool = False
    maintenance: bool = False
    failback: FailbackView = field(default_factory=FailbackView)
    links: dict[str, LinkView] = field(default_factory=dict)
    last_takeover: dict[str, Any] | None = None
    lease: LeaseView = field(default_factory=LeaseView)
    recent: list[dict[str, Any]] = field(default_factory=list)
    rejoin: RejoinView = field(default_factory=RejoinView)

    @property
    def active(self) -> bool:
        return self.role is Role.ACTIVE

    @property
    def peer_active(self) -> bool:
        return self.peer_view.role is Role.ACTIVE

    def to_json(self) -> dict[str, Any]:
        return _STATUS.dump_python(self, mode="json")  # type: ignore[no-any-return]

    @classmethod
    def from_json(cls, data: Any) -> AgentStatus:
        return _STATUS.validate_python(data)


_STATUS = TypeAdapter(AgentStatus)
