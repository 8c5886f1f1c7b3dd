"""The local control channel: a Unix socket in the node's state directory.

One JSON request per connection, one JSON answer: ``{"cmd": "status"}``,
``{"cmd": "standby"}``, ``{"cmd": "takeover", "force": false}``. A Unix socket because
only root on this host may steer the agent, and file permissions say so.
"""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from dualbeat.core.roles import is_refusal
from dualbeat.errors import AgentUnreachable, RefusedError, UsageError

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


def command(state_dir: Path, payload: dict[str, Any], refused: str) -> dict[str, Any]:
    """Send an operator command; an agent that refuses it becomes ``RefusedError`` with
    the agent's own reason, prefixed by ``refused`` (who refused what)."""
    answer = request(state_dir, payload)
    if not answer.get("ok"):
        raise UsageError(str(answer.get("error")))
    if is_refusal(answer["finding"]):
        why = answer["reasons"][0]["text"] if answer["reasons"] else answer["finding"]
        raise RefusedError(f"{refused}: {why}")
    return answer


def wait_status(
    state_dir: Path, done: Callable[[dict[str, Any]], bool], timeout: float, every: float = 0.1
) -> dict[str, Any] | None:
    """Poll the agent's status until ``done`` holds (that status) or ``timeout`` passes."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status: dict[str, Any] = request(state_dir, {"cmd": "status"})["status"]
        if done(status):
            return status
        time.sleep(every)
    return None
