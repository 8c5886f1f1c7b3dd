"""The local control channel: a Unix socket in the node's state directory.

One JSON request per connection, one JSON answer: ``{"cmd": "status"}``,
``{"cmd": "standby"}``, ``{"cmd": "takeover", "force": false}``. A Unix socket because
only root on this host may steer the agent, and file permissions say so.
"""

from __future__ import annotations

import json
import socket
from pathlib import Path
from typing import Any

from dualbeat.errors import AgentUnreachable

FILENAME = "agent.sock"


def socket_path(state_dir: Path) -> Path:
    return state_dir / FILENAME


def request(state_dir: Path, payload: dict[str, Any], timeout: float = 15.0) -> dict[str, Any]:
    """Ask the local agent; ``AgentUnreachable`` if it is not running."""
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
        answer = json.loads(b"".join(chunks))
    except ValueError:
        raise AgentUnreachable(f"the agent on {path} sent an unreadable answer") from None
    if not isinstance(answer, dict):
        raise AgentUnreachable(f"the agent on {path} sent an unexpected answer")
    return answer
