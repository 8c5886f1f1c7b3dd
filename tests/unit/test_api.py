"""The HTTP API against a fake agent: health answers, auth refusals, actions, the contract.

The fake stands where the real ``Agent`` does (``status()`` and ``_answer``), so these
tests check the API's own logic; tests/integration/test_api.py runs it in real agents.
"""

from __future__ import annotations

import asyncio
import atexit
import copy
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from prometheus_client.parser import text_string_to_metric_families
from schemathesis.checks import not_a_server_error
from starlette.testclient import TestClient

from dualbeat.agent.status import AgentStatus
from dualbeat.api.app import build_app
from dualbeat.api.metrics import AgentMetrics
from dualbeat.config import Config, loads
from dualbeat.errors import ConfigError
from dualbeat.repl.switchover import Preflight
from tests.unit.test_config import BASE

TOKEN = "s3cret-token-for-the-tests-0123"

STATUS: dict[str, Any] = {
    "node": "db1",
    "peer": "db2",
    "cluster": "orders",
    "role": "active",
    "epoch": 3,
    "finding": "peer_passive",
    "fenced_reason": "",
    "promoting": False,
    "yielding": False,
    "mysql": {
        "health": "healthy",
        "writable": True,
        "replicating": True,
        "lag_s": 0,
        "executed": "0-1-10",
        "received": "0-2-4",
        "semisync_active": True,
        "detail": "2 ms",
        "probe_latency_s": 0.002,
    },
    "vip": {"address": "10.1.0.100/24", "held": True, "carrier": True},
    "peer_view": {
        "role": "standby",
        "epoch": 3,
        "mysql": "healthy",
        "writable": False,
        "vip_held": False,
        "replicating": True,
        "lag_s": 0,
        "semisync_active": False,
        "executed": "0-1-10",
        "silent_s": 0.1,
        "sql_reachable": True,
    },
    "links": {
        "lan": {
            "age_s": 0.1,
            "sent": 10,
            "received": 12,
            "send_errors": 0,
            "dropped": {"duplicate": 2},
        }
    },
    "last_takeover": None,
    "recent": [],
}


def fit(config: Config, active: str, target: str) -> Preflight:
    """The switchover's pre-checks, passing without a server."""
    return Preflight(active, target, ())


class FakeAgent:
    """Answers as the real agent would; ``answers`` maps a command to its answer."""

    def __init__(self, config: Config) -> None:
        self.config, self.node = config, "db1"
        self.state = copy.deepcopy(STATUS)
        self.requests: list[dict[str, Any]] = []
        self.answers: dict[str, dict[str, Any]] = {
            "switchover": {"ok": True, "finding": "standby_requested", "role": "standby",
                           "reasons": [{"code": "STANDBY_REQUESTED", "text": "handing over"}]},
            "standby": {"ok": True, "finding": "standby_requested", "role": "standby",
                        "reasons": []},
        }  # fmt: skip
        self.hang = False

    def status(self) -> AgentStatus:
        return AgentStatus.from_json(self.state)

    async def _answer(self, request: dict[str, Any]) -> dict[str, Any]:
        self.requests.append(request)
        if self.hang:
            await asyncio.sleep(3600)
        cmd = str(request.get("cmd"))
        answer = self.answers.get(cmd, {"ok": False, "error": f"unknown command {cmd!r}"})
        if cmd == "maintenance" and answer["ok"]:  # the peer follows at once
            self.state["maintenance"] = self.state["peer_view"]["maintenance"] = request["on"]
        return answer


def make_config(tmp_path: Path, api: str) -> Config:
    key = tmp_path / "hb.key"
    key.write_bytes(os.urandom(32))
    key.chmod(0o600)
    pw = tmp_path / "mysql.pass"
    pw.write_text("pw\n")
    pw.chmod(0o600)
    token = tmp_path / "api.token"
    token.write_text(TOKEN + "\n")
    token.chmod(0o600)
    return loads(BASE.format(dir=tmp_path) + api.format(dir=tmp_path))


API = """
[api]
port = 8008
token_file = "{dir}/api.token"
action_timeout = "300ms"
"""


@pytest.fixture
def agent(tmp_path: Path) -> FakeAgent:
    return FakeAgent(make_config(tmp_path, API))


@pytest.fixture
def client(agent: FakeAgent) -> TestClient:
    return TestClient(build_app(agent, AgentMetrics(agent.status), checks=fit))


AUTH = {"Authorization": f"Bearer {TOKEN}"}


def test_active_only_on_the_writable_vip_holder(agent: FakeAgent, client: TestClient) -> None:
    r = client.get("/active")
    assert r.status_code == 200 and r.json()["ok"] is True
    agent.state["vip"]["held"] = False
    r = client.get("/active")
    assert r.status_code == 503 and "VIP" in r.json()["reason"]
    agent.state["vip"]["held"] = True
    agent.state["promoting"] = True
    assert client.get("/active").status_code == 503
    agent.state["promoting"] = False
    agent.state["role"] = "standby"
    r = client.get("/active")
    assert r.status_code == 503 and r.json()["reason"] == "role is standby"


def test_standby_needs_health_replication_and_small_lag(
    agent: FakeAgent, client: TestClient
) -> None:
    assert client.get("/standby").status_code == 503  # active
    agent.state["role"] = "standby"
    agent.state["mysql"]["lag_s"] = 12
    assert client.get("/standby").status_code == 200  # default max_lag 30 s
    r = client.get("/standby", params={"max_lag": 5})
    assert r.status_code == 503 and "exceeds 5" in r.json()["reason"]
    assert client.get("/standby", params={"max_lag": 12}).status_code == 200
    agent.state["mysql"]["replicating"] = False
    assert client.get("/standby").json()["reason"] == "not replicating"
    agent.state["mysql"]["replicating"] = True
    agent.state["mysql"]["health"] = "failed"
    assert client.get("/standby").status_code == 503
    assert client.get("/health").status_code == 503


@pytest.mark.parametrize("bad", ["-1", "abc", "nan"])
def test_bad_max_lag_is_a_4xx_naming_the_parameter(client: TestClient, bad: str) -> None:
    r = client.get("/standby", params={"max_lag": bad})
    assert r.status_code == 422
    assert "max_lag" in r.text


def test_actions_refuse_without_the_token(agent: FakeAgent, client: TestClient) -> None:
    r = client.post("/switchover")
    assert r.status_code == 401 and r.headers["www-authenticate"] == "Bearer"
    r = client.post("/switchover", headers={"Authorization": "Bearer wrong"})
    assert r.status_code == 403 and r.json()["detail"] == "wrong token"
    r = client.post("/standby", headers={"Authorization": f"Basic {TOKEN}"})
    assert r.status_code == 401
    r = client.post("/maintenance", json={"on": True})
    assert r.status_code == 401
    assert agent.requests == []  # nothing reached the agent


def test_actions_are_disabled_without_a_token_file(tmp_path: Path) -> None:
    agent = FakeAgent(make_config(tmp_path, "\n[api]\n"))
    r = TestClient(build_app(agent, checks=fit)).post("/switchover", headers=AUTH)
    assert r.status_code == 403 and "token_file" in r.json()["detail"]
    assert agent.requests == []


def test_actions_go_through_the_control_protocol(agent: FakeAgent, client: TestClient) -> None:
    r = client.post("/switchover", headers=AUTH)
    assert r.status_code == 200 and r.json()["finding"] == "standby_requested"
    assert client.post("/standby", headers=AUTH).status_code == 200
    assert agent.requests == [{"cmd": "switchover"}, {"cmd": "standby"}]


def test_a_refusal_is_409_with_the_agents_reason(agent: FakeAgent, client: TestClient) -> None:
    agent.answers["switchover"] = {
        "ok": True,
        "refused": True,
        "finding": "switchover_refused",
        "role": "standby",
        "reasons": [{"code": "SWITCHOVER_REFUSED", "text": "no live active to switch from"}],
    }
    r = client.post("/switchover", headers=AUTH)
    assert r.status_code == 409
    assert r.json()["detail"] == "switchover refused by the agent: no live active to switch from"


def test_commands_the_agent_does_not_take_are_400_and_bad_bodies_422(
    agent: FakeAgent, client: TestClient
) -> None:
    r = client.post("/maintenance", headers=AUTH, json={"on": True})
    assert r.status_code == 400 and "unknown command" in r.json()["detail"]
    assert agent.requests == [{"cmd": "maintenance", "on": True}]
    assert client.post("/maintenance", headers=AUTH).status_code == 422
    for bad in ("maybe", "yes", 1):
        r = client.post("/maintenance", headers=AUTH, json={"on": bad})
        assert r.status_code == 422 and "on" in r.text
    r = client.get("/history", params={"since": 5})
    assert r.status_code == 503
    agent.answers["history"] = {"ok": True, "events": [{"code": "STARTED"}]}
    assert client.get("/history").json() == {"events": [{"code": "STARTED"}]}
    agent.answers["maintenance"] = {"ok": False, "error": "maintenance: 'on' must be true"}
    assert client.post("/maintenance", headers=AUTH, json={"on": False}).status_code == 400


def test_errors_are_json_naming_where_and_405_lists_every_method(client: TestClient) -> None:
    r = client.delete("/standby")  # a check (GET, and HEAD with it) and an action (POST)
    assert r.status_code == 405 and r.headers["allow"] == "GET, HEAD, POST"
    assert r.json() == {"detail": "Method Not Allowed"}
    assert client.get("/nowhere").json() == {"detail": "Not Found"}
    r = client.get("/standby", params={"max_lag": "abc"})
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["query", "max_lag"]
    r = client.post("/maintenance", headers=AUTH, content=b"{")
    assert r.status_code == 422 and r.json()["detail"][0]["type"] == "json_invalid"
    r = client.post("/maintenance", headers=AUTH, json={"on": True, "off": 1})
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "off"]
    assert client.post("/maintenance", headers=AUTH, content=b"\x80").status_code == 400


def test_an_agent_that_does_not_answer_gets_503_not_a_hang(
    agent: FakeAgent, client: TestClient
) -> None:
    agent.hang = True
    r = client.post("/switchover", headers=AUTH)
    assert r.status_code == 503 and "did not answer within 0.3 s" in r.json()["detail"]


def test_status_page_and_spec(client: TestClient) -> None:
    assert client.get("/status").json()["peer_view"]["role"] == "standby"
    page = client.get("/")
    assert page.status_code == 200 and "fetch(path" in page.text
    spec = client.get("/openapi.json").json()
    assert {"/active", "/standby", "/health", "/status", "/history", "/switchover",
            "/maintenance", "/metrics"} <= set(spec["paths"])  # fmt: skip


def test_metrics_mirror_the_status_and_count_takeovers(
    agent: FakeAgent, client: TestClient
) -> None:
    def samples() -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
        text = client.get("/metrics").text
        return {
            (s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text)
            for s in family.samples
        }

    before = samples()
    assert before[("dualbeat_role", (("role", "active"),))] == 1.0
    assert before[("dualbeat_role", (("role", "standby"),))] == 0.0
    assert before[("dualbeat_epoch", ())] == 3
    assert before[("dualbeat_heartbeat_age_seconds", (("link", "lan"),))] == 0.1
    assert before[("dualbeat_heartbeat_dropped_total", (("link", "lan"), ("reason", "duplicate")))]
    assert before[("dualbeat_monitor_probe_latency_seconds", ())] == 0.002
    assert before[("dualbeat_semisync_active", ())] == 1.0
    assert before[("dualbeat_failovers_total", ())] == 0.0
    agent.state["epoch"] = 4
    agent.state["mysql"]["lag_s"] = None
    assert samples()[("dualbeat_epoch", ())] == 4


def test_metrics_classify_promotions() -> None:
    m = AgentMetrics(lambda: AgentStatus.from_json(STATUS))
    evidence = {"finding": "peer_dead", "detect_s": 1.6, "apply_s": 0.1,
                "promote_vip_s": 0.05, "total_s": 1.75, "planned": False}  # fmt: skip
    promoted = {"code": "PROMOTED", "evidence": evidence}
    m.observe(promoted)
    m.observe({**promoted, "evidence": {**evidence, "finding": "peer_yielded", "planned": True}})
    m.observe({**promoted, "evidence": {"finding": "elected", "planned": False}})
    m.observe({"code": "DEMOTED", "evidence": {"fence_s": 0.02}})
    reg = m.registry
    assert reg.get_sample_value("dualbeat_failovers_total") == 1
    assert reg.get_sample_value("dualbeat_switchovers_total") == 1
    assert reg.get_sample_value("dualbeat_decisions_total", {"code": "PROMOTED"}) == 3
    count = "dualbeat_failover_phase_seconds_count"
    assert reg.get_sample_value(count, {"phase": "detect"}) == 2
    assert reg.get_sample_value(count, {"phase": "fence"}) == 1
    assert reg.get_sample_value("dualbeat_failover_phase_seconds_sum", {"phase": "total"}) == 3.5


# ---------------------------------------------------------------- configuration


def test_bind_defaults_to_loopback_and_the_nodes_address(tmp_path: Path) -> None:
    config = make_config(tmp_path, API)
    assert config.api is not None
    assert config.api.addresses(config.node("db2")) == ["127.0.0.1", "10.1.0.12"]


@pytest.mark.parametrize(
    ("api", "message"),
    [
        ('\n[api]\nbind = ["10.1.0.300"]\n', "api.bind"),
        ("\n[api]\nbind = []\n", "at least one address"),
        ('\n[api]\ntls_cert = "{dir}/c.pem"\n', "both 'tls_cert' and 'tls_key'"),
        ("\n[api]\nport = 0\n", "api.port"),
        ('\n[[webhooks]]\nurl = "ftp://x"\n', "webhooks.0.url"),
        ('\n[[webhooks]]\nurl = "http://x/"\nevents = ["failover", "boom"]\n', "'boom'"),
    ],
)
def test_bad_api_config_is_rejected_naming_the_key(tmp_path: Path, api: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        make_config(tmp_path, api)


def test_token_file_must_be_private_and_long_enough(tmp_path: Path) -> None:
    make_config(tmp_path, API)
    token = tmp_path / "api.token"
    token.chmod(0o644)
    with pytest.raises(ConfigError, match=r"api.token_file: .* chmod 600"):
        make_config_keep_token(tmp_path)
    token.write_text("short\n")
    token.chmod(0o600)
    with pytest.raises(ConfigError, match="shorter than 16"):
        make_config_keep_token(tmp_path)


def make_config_keep_token(tmp_path: Path) -> Config:
    return loads(BASE.format(dir=tmp_path) + API.format(dir=tmp_path))


# ---------------------------------------------------------------- the contract

_contract_dir = Path(tempfile.mkdtemp(prefix="dualbeat-api-"))  # the schema is built at import
atexit.register(shutil.rmtree, _contract_dir, True)
_contract_agent = FakeAgent(make_config(_contract_dir, API))
_contract_agent.answers["maintenance"] = {"ok": True, "role": "active", "persisted": True}
schema = schemathesis.openapi.from_asgi(
    "/openapi.json",
    build_app(_contract_agent, AgentMetrics(_contract_agent.status), checks=fit),
)


@schema.parametrize()
@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
def test_every_route_keeps_its_contract(case: schemathesis.Case[Any]) -> None:
    """Generated requests, with and without the token: documented codes and bodies only.
    A 503 is a documented answer here (a failing health check, a missing feature), so
    schemathesis's "no 5xx" check gives way to "no 5xx but a documented 503"."""
    for headers in (None, AUTH):
        response = case.call_and_validate(headers=headers, excluded_checks=[not_a_server_error])
        assert response.status_code < 500 or response.status_code == 503, response.text
