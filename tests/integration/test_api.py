"""The HTTP API in real agents: health checks follow the roles, actions need the token and
move the VIP, loopback is served too. Requests go from the client host, as a load
balancer's would (the API listens on each node's LAN address and loopback)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from dualbeat_lab.sandbox import agents
from dualbeat_lab.sandbox.files import API_PORT
from dualbeat_lab.sandbox.lab import LabInfo
from tests.integration.labtools import inside, wait_for

pytestmark = pytest.mark.integration


def url(info: LabInfo, node: str, path: str) -> str:
    return f"http://{info.node(node).lan_address}:{API_PORT}{path}"


def get(info: LabInfo, node: str, path: str, ns: str = "client") -> httpx.Response:
    with inside(ns):
        return httpx.get(url(info, node, path), timeout=2.0)


def post(
    info: LabInfo, node: str, path: str, token: str | None, json: Any = None
) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
    with inside("client"):
        return httpx.post(url(info, node, path), headers=headers, json=json, timeout=20.0)


def codes(info: LabInfo, path: str) -> dict[str, int]:
    return {n.name: get(info, n.name, path).status_code for n in info.nodes}


def test_health_checks_follow_the_roles_and_switchover_moves_them(pair: LabInfo) -> None:
    info = pair
    assert codes(info, "/active") == {"db1": 200, "db2": 503}
    assert codes(info, "/health") == {"db1": 200, "db2": 200}
    wait_for(lambda: codes(info, "/standby") == {"db1": 503, "db2": 200}, 10, "db2 a standby")
    status = get(info, "db2", "/status").json()
    assert (status["node"], status["role"], status["peer_view"]["role"]) == (
        "db2",
        "standby",
        "active",
    )
    assert "dualbeat_role" in get(info, "db1", "/metrics").text
    with inside("db1"):  # loopback, from the node itself
        assert httpx.get(f"http://127.0.0.1:{API_PORT}/active", timeout=2.0).status_code == 200

    # Refused without the right token: nothing moves.
    token = info.secrets.api_token_file.read_text().strip()
    assert post(info, "db2", "/switchover", None).status_code == 401
    assert post(info, "db2", "/switchover", token + "x").status_code == 403
    with inside("client"):
        basic = httpx.post(url(info, "db1", "/standby"), auth=("root", token), timeout=5.0)
    assert basic.status_code == 401
    assert agents.settled(info) == "db1"

    # With it, a switchover asked of the standby makes it the active.
    r = post(info, "db2", "/switchover", token)
    assert r.status_code == 200, r.text
    wait_for(lambda: agents.settled(info, standby=True) == "db2", 20, "db2 active")
    wait_for(lambda: codes(info, "/active") == {"db1": 503, "db2": 200}, 10, "/active on db2")

    # Asking the new standby to stand by changes nothing; the answer says its role.
    r = post(info, "db1", "/standby", token)
    assert r.status_code == 200 and r.json()["role"] == "standby", r.text

    # Maintenance over HTTP: the node asked pauses, the peer follows through the heartbeat.
    r = post(info, "db2", "/maintenance", token, {"on": True})
    assert r.status_code == 200 and r.json()["maintenance"] is True, r.text
    wait_for(lambda: get(info, "db1", "/status").json()["maintenance"], 10, "db1 to follow")
    assert post(info, "db2", "/maintenance", token, {"on": "yes"}).status_code == 422
    r = post(info, "db1", "/maintenance", token, {"on": False})
    assert r.status_code == 200 and r.json()["maintenance"] is False, r.text
    wait_for(lambda: not get(info, "db2", "/status").json()["maintenance"], 10, "db2 resumes")
