"""The control protocol's typed answers survive the trip through JSON unchanged."""

from __future__ import annotations

import copy
import json

from dualbeat.agent.control import ControlAnswer, ReasonLine
from dualbeat.agent.render import render_status, render_watch
from dualbeat.agent.snapshot import View, snapshot
from dualbeat.agent.status import AgentStatus
from dualbeat.core.roles import Finding, Role
from dualbeat.core.state import Decision, NodeState
from dualbeat.heartbeat.link import LinkStats
from tests.unit.test_api import STATUS
from tests.unit.test_history_cli import text_of


def trip(answer: ControlAnswer) -> ControlAnswer:
    return ControlAnswer.from_json(json.loads(json.dumps(answer.to_json())))


def test_a_status_with_unknown_values_survives_the_socket() -> None:
    raw = copy.deepcopy(STATUS)
    raw["mysql"] |= {"lag_s": None, "writable": None, "semisync_active": None}
    raw["peer_view"] = {"silent_s": None, "sql_reachable": None}  # no heartbeat yet
    status = AgentStatus.from_json(raw)
    assert trip(ControlAnswer(ok=True, status=status)).status == status


def test_a_refusal_is_a_flag_not_a_spelling() -> None:
    refused = ControlAnswer(
        ok=True,
        refused=True,
        finding="standby_refused",
        role="active",
        reasons=(ReasonLine("STANDBY_REFUSED", "the peer is not a healthy standby"),),
    )
    assert trip(refused) == refused and refused.why == "the peer is not a healthy standby"


def test_the_agent_flags_every_refusing_finding_and_only_those() -> None:
    for finding in Finding:
        answer = ControlAnswer.of(Decision(NodeState(role=Role.ACTIVE, finding=finding)))
        assert (answer.refused, answer.finding) == (finding.refused, finding.value)
    assert not ControlAnswer.of(Decision(NodeState())).refused  # no finding yet


def test_a_starting_agents_status_survives_the_socket() -> None:
    """Right after start: nothing probed, no heartbeat, no link heard, no lease."""
    stats = {"lan": LinkStats()}
    view = View("db1", "db2", "orders", "10.1.0.100/24", arbiter=False, auto_failback=False)
    status = snapshot(NodeState(), view, links=stats, probe_latency=None, recent=[], now=5.0)
    assert status.role is Role.STARTING and status.peer_view.role is None
    assert trip(ControlAnswer(ok=True, status=status)).status == status


def test_status_and_watch_render_the_typed_status() -> None:
    raw = copy.deepcopy(STATUS) | {"fenced_reason": "lost writes", "maintenance": True}
    status = AgentStatus.from_json(raw)
    shown = text_of(render_status(status))
    assert "db1 (this node)" in shown and "db2 (peer)" in shown
    assert "FENCED: lost writes" in shown and "MAINTENANCE MODE" in shown
    assert "finding: peer_passive; VIP 10.1.0.100/24" in shown and "classic mode" in shown
    frame = text_of(render_watch("db1", status, "", [], interval=1, now=2.0))
    assert "db1 (this node)" in frame and "unreachable" not in frame
