"""The ops workflows against a fake agent port: the retries, waits and refusals that used to
live in the CLI alone."""

from __future__ import annotations

import copy
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from dualbeat.agent.control import ControlAnswer, ReasonLine
from dualbeat.agent.status import AgentStatus
from dualbeat.checksum.report import ChecksumReport
from dualbeat.config import Config
from dualbeat.core.roles import Role
from dualbeat.errors import (
    AgentUnreachable,
    ArbiterUnavailable,
    HookFailed,
    RefusedError,
    UsageError,
    WatchdogError,
)
from dualbeat.ops import handover, maintenance, rejoin
from dualbeat.ops.outcome import ExitCode, exit_code, http_status
from tests.unit.test_api import API, STATUS, make_config

ACCEPTED = ControlAnswer(ok=True, finding="rejoin_accepted", role="standby")
REFUSED = ControlAnswer(
    ok=True,
    refused=True,
    finding="rejoin_refused",
    role="fenced",
    reasons=(ReasonLine("REJOIN_REFUSED", "we still hold writes the active lacks"),),
)


class FakePort:
    """An agent that answers from a script (the last answer repeats) and shows a status."""

    def __init__(self, answers: list[ControlAnswer], status: dict[str, Any] = STATUS) -> None:
        self.answers = answers
        self.state = AgentStatus.from_json(copy.deepcopy(status))
        self.sent: list[dict[str, Any]] = []
        self.stands_by_on_accept = False

    def status(self) -> AgentStatus:
        return self.state

    def send(self, payload: dict[str, Any]) -> ControlAnswer:
        self.sent.append(payload)
        answer = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        if self.stands_by_on_accept and answer.finding == "rejoin_accepted":
            self.state = replace(self.state, role=Role.STANDBY)
        return answer


@pytest.fixture
def config(tmp_path: Path) -> Config:
    return make_config(tmp_path, API)


def equal(config: Config) -> ChecksumReport:
    return ChecksumReport("db2", "db1", 1000, (), 0.1)


def standing_by(port: FakePort) -> FakePort:
    """Fenced, and a standby once its agent accepts the rejoin."""
    port.state = replace(port.state, role=Role.FENCED)
    port.stands_by_on_accept = True
    return port


def test_accept_of_a_node_the_automatic_rejoin_let_stand_by_asks_nothing(config: Config) -> None:
    """``[rejoin] auto`` may have let the node stand by before the operator's --accept:
    the agent would refuse a node that is not fenced; the pair is checksummed anyway."""
    port = FakePort([REFUSED])
    port.state = replace(port.state, role=Role.STANDBY)
    assert rejoin.accept(config, port, "db1", False, compare=equal) == 0
    assert port.sent == []


def test_accept_retries_a_refusal_the_agent_takes_back(config: Config) -> None:
    port = standing_by(FakePort([REFUSED, REFUSED, ACCEPTED]))
    assert rejoin.accept(config, port, "db1", False, compare=equal) == 0
    assert port.sent == [{"cmd": "rejoined"}] * 3


def test_accept_refusal_stands_once_the_retries_are_over(config: Config) -> None:
    port = standing_by(FakePort([REFUSED]))
    with pytest.raises(RefusedError, match="db1's agent refused: we still hold writes"):
        rejoin.accept(config, port, "db1", False, compare=equal, retry_for=0.3)


def test_accept_refuses_missing_writes_without_asking_the_agent(config: Config) -> None:
    port = FakePort([ACCEPTED])
    with pytest.raises(RefusedError, match="still holds transactions the active lacks"):
        rejoin.accept(config, port, "db1", True, compare=equal)
    assert port.sent == []


def test_maintenance_waits_for_the_peer_to_confirm() -> None:
    port = FakePort([ControlAnswer(ok=True, role="active", maintenance=True, persisted=True)])
    assert not maintenance.switch(port, "db1", True, timeout=0.2).confirmed
    port.state = replace(port.state, peer_view=replace(port.state.peer_view, maintenance=True))
    done = maintenance.switch(port, "db1", True, timeout=0.2)
    assert done.confirmed and done.answer.persisted


def test_role_commands_refuse_with_the_agents_reason() -> None:
    why = ReasonLine("TAKEOVER_REFUSED", "the peer holds transactions we lack")
    port = FakePort(
        [ControlAnswer(ok=True, refused=True, finding="takeover_refused", reasons=(why,))]
    )
    with pytest.raises(RefusedError, match=r"^db2 refused: the peer holds transactions we lack$"):
        handover.takeover(port, "db2")
    assert port.sent == [{"cmd": "takeover", "force": False}]
    with pytest.raises(UsageError, match="unknown command"):
        handover.standby(FakePort([ControlAnswer(ok=False, error="unknown command 'x'")]), "db1")


def test_one_row_of_the_table_per_error() -> None:
    assert (exit_code(RefusedError("x")), http_status(RefusedError("x"))) == (ExitCode.REFUSED, 409)
    assert (exit_code(UsageError("x")), http_status(UsageError("x"))) == (ExitCode.BAD_CONFIG, 400)
    assert http_status(AgentUnreachable("x")) == 503


def test_a_failing_helper_of_the_agent_is_not_a_failed_check() -> None:
    """A hook, the arbiter or the watchdog failing is not "a check found a FAIL" (exit 1)."""
    for error in (HookFailed("x"), ArbiterUnavailable("x"), WatchdogError("x")):
        assert (exit_code(error), http_status(error)) == (ExitCode.DEPENDENCY, 503)
