"""The local control channel: a Unix socket in the node's state directory.

One JSON request per connection, one JSON answer: ``{"cmd": "status"}``,
``{"cmd": "standby"}``, ``{"cmd": "takeover", "force": false}``. A Unix socket because
only root on this host may steer the agent, and file permissions say so.

The answers are typed on both sides: the agent builds a ``ControlAnswer`` (or an
``AgentStatus``) and the client parses one back, so a refusal is the explicit ``refused``
flag, never a guess from the finding's spelling.
"""

from __future__ import annotations

import json
import socket
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import TypeAdapter, ValidationError

from dualbeat.agent.status import AgentStatus
from dualbeat.core.state import Decision
from dualbeat.errors import AgentUnreachable

FILENAME = "agent.sock"


@dataclass(frozen=True)
class ReasonLine:
    code: str
    text: str


@dataclass(frozen=True)
class ControlAnswer:
    """The agent's answer to one request.

    ``ok`` false: the request itself was wrong or unknown (``error`` says why). ``ok`` and
    ``refused``: the agent understood and said no (``reasons`` say why). Otherwise the
    command was taken; ``role`` and ``finding`` are the node's after it."""

    ok: bool
    error: str = ""
    refused: bool = False
    finding: str = ""
    role: str = ""
    reasons: tuple[ReasonLine, ...] = ()
    maintenance: bool | None = None  # the maintenance command: the setting now
    persisted: bool | None = None  # ... and whether the state file holds it yet
    status: AgentStatus | None = None  # the status command
    events: list[dict[str, Any]] = field(default_factory=list)  # the history command
    damaged: int = 0

    @property
    def why(self) -> str:
        """The refusal's (or error's) reason in one sentence."""
        if self.error:
            return self.error
        return self.reasons[0].text if self.reasons else self.finding

    @classmethod
    def of(cls, decision: Decision, maintenance: bool | None = None) -> ControlAnswer:
        """The agent's answer to an operator command, from the decision it led to: refused
        when the decision's finding turns the command down (``Finding.refused``)."""
        finding = decision.state.finding
        return cls(
            ok=True,
            refused=finding is not None and finding.refused,
            finding="" if finding is None else finding.value,
            role=decision.state.role.value,
            reasons=tuple(ReasonLine(r.code.value, r.text) for r in decision.reasons),
            maintenance=maintenance,
        )

    def to_json(self) -> dict[str, Any]:
        return _ANSWER.dump_python(self, mode="json")  # type: ignore[no-any-return]

    @classmethod
    def from_json(cls, data: Any) -> ControlAnswer:
        return _ANSWER.validate_python(data)


_ANSWER = TypeAdapter(ControlAnswer)


def socket_path(state_dir: Path) -> Path:
    return state_dir / FILENAME


def request(state_dir: Path, payload: dict[str, Any], timeout: float = 15.0) -> ControlAnswer:
    """Ask the local agent; ``AgentUnreachable`` if it is not running or answers nonsense."""
    path = socket_path(state_dir)
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(timeout)
        try:
            sock.connect(str(path))
        except (FileNotFoundError, ConnectionRefusedError) as exc:
            raise AgentUnreachable(
                f"no dualbeat agent answers on {path} ({exc.strerror}); is `dualbeat agent` "
                "running on this node (systemctl status dualbeat)?"
            ) from None
        sock.sendall(json.dumps(payload).encode() + b"\n")
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    try:
        data = json.loads(b"".join(chunks))
    except ValueError:
        raise AgentUnreachable(f"the agent on {path} sent an unreadable answer") from None
    try:
        return ControlAnswer.from_json(data)
    except ValidationError as exc:
        raise AgentUnreachable(f"the agent on {path} sent an unexpected answer: {exc}") from None


@dataclass(frozen=True)
class SocketAgent:
    """The agent of this host, reached over its control socket (what the CLI steers)."""

    state_dir: Path
    timeout: float = 15.0

    def status(self) -> AgentStatus:
        answer = request(self.state_dir, {"cmd": "status"}, self.timeout)
        if answer.status is None:
            raise AgentUnreachable(f"the agent on {socket_path(self.state_dir)} sent no status")
        return answer.status

    def send(self, payload: dict[str, Any]) -> ControlAnswer:
        return request(self.state_dir, payload, self.timeout)
