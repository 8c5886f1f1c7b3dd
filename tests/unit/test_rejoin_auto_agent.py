"""Issue 12 item 3, the agent's side: ``[rejoin] auto`` in the config (default
``internal``, a wrong value named with its line), the core told, the automatic
``--reapply`` run off the event loop by its own worker and reported as
``ActionDone``/``ActionFailed``, and the webhook events it stands for."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from dualbeat.agent.notify import events_of
from dualbeat.agent.rejoiner import RejoinWorker
from dualbeat.agent.settings import core_config
from dualbeat.config import load
from dualbeat.core.actions import AutoRejoin
from dualbeat.core.observations import ActionDone, ActionFailed, Observation
from dualbeat.core.state import RejoinAuto
from dualbeat.errors import ConfigError, RefusedError, RefusedUntouched
from tests.unit.test_config import BASE, line_of, secrets, write

__all__ = ["secrets"]  # the fixture


def test_rejoin_auto_defaults_to_internal_and_reaches_the_core(secrets: Path) -> None:
    config = load(write(secrets, BASE))
    assert config.rejoin.auto is RejoinAuto.INTERNAL
    safe = load(write(secrets, BASE + '\n[rejoin]\nauto = "safe"\n'))
    assert core_config(safe, "db1").rejoin_auto is RejoinAuto.SAFE


def test_a_wrong_rejoin_auto_names_the_key_the_line_and_the_choices(secrets: Path) -> None:
    text = BASE + '\n[rejoin]\nauto = "always"\n'
    path = write(secrets, text)
    with pytest.raises(ConfigError) as info:
        load(path)
    msg = str(info.value)
    assert f":{line_of(text, 'always')}: rejoin.auto:" in msg
    assert "'off', 'internal' or 'safe'" in msg


def run_worker(workflow: object) -> Observation:
    posted: list[Observation] = []
    done = threading.Event()

    def post(obs: Observation) -> None:
        posted.append(obs)
        done.set()

    worker = RejoinWorker(workflow, post)  # type: ignore[arg-type]
    worker.submit(AutoRejoin())
    assert done.wait(5.0)
    worker.close()
    return posted[0]


def test_the_worker_reports_what_the_workflow_did() -> None:
    assert run_worker(lambda: "re-applied 2") == ActionDone(AutoRejoin(), "re-applied 2")


def test_the_worker_reports_a_refusal_as_a_failure() -> None:
    def refuse() -> str:
        raise RefusedError("1 of 1 lost transaction(s) are not all safe row changes")

    outcome = run_worker(refuse)
    assert isinstance(outcome, ActionFailed) and "not all safe" in outcome.error
    assert not outcome.untouched  # a refusal may come from a step after changes


def test_a_refusal_before_any_change_says_so() -> None:
    def refuse() -> str:
        raise RefusedUntouched("1-1-9 was committed while clients could reach the server")

    outcome = run_worker(refuse)
    assert isinstance(outcome, ActionFailed) and outcome.untouched


def test_the_worker_never_leaves_the_action_in_flight_on_a_bug() -> None:
    def crash() -> str:
        raise KeyError("bug")

    outcome = run_worker(crash)
    assert isinstance(outcome, ActionFailed) and "crashed" in outcome.error


@pytest.mark.parametrize(
    ("code", "events"),
    [
        ("REJOIN_AUTO", ["rejoined"]),
        ("REJOIN_AUTO_RESOLVED", ["rejoined"]),
        ("REJOIN_AUTO_FAILED", ["rejoin_needed"]),
    ],
)
def test_every_automatic_rejoin_is_a_webhook_event(code: str, events: list[str]) -> None:
    assert events_of({"code": code, "role": "fenced"}) == events
