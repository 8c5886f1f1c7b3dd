"""Issue 12 item 3: ``[rejoin] auto``. ``off``: a deposed active is fenced for review even
when it lacks nothing; ``internal`` (the default): a fenced node stands by again by itself
once the active holds every transaction of its own (``REJOIN_AUTO``); ``safe``: a node
fenced for lost writes also asks its agent for ``rejoin --reapply`` (``AutoRejoin``),
a bounded number of times, and stands by once the active holds them. ``internal`` asks for
that run too when its client gate recorded a window (``GateWindowOpened``): commits made
while the gate was shut acknowledged no client and are discarded. A conflict never
resolves itself: the workflow refuses it (``REJOIN_AUTO_FAILED``) and the node stays
fenced."""

from __future__ import annotations

from dataclasses import replace

from dualbeat.core.actions import Action, AutoRejoin, StartReplication
from dualbeat.core.observations import (
    ActionDone,
    ActionFailed,
    Command,
    GateWindowOpened,
    OperatorRequested,
)
from dualbeat.core.roles import Finding, Role
from dualbeat.core.state import CoreConfig, Decision, RejoinAuto
from tests.unit.core_driver import DB1, Driver, peer_beat, promoted_active

NEW_ACTIVE = "1-1-10,2-2-3"  # db2 took over with db1's 1-1-10 and wrote 2-2-1..3


def cfg(auto: RejoinAuto) -> CoreConfig:
    return replace(DB1, rejoin_auto=auto)


def run(d: Driver, ours: str, theirs: str, until: float, step: float = 0.5) -> list[Action]:
    """Probe ``ours`` (channel stopped) and hear db2 active at epoch 2 holding ``theirs``
    until ``until``; the actions asked meanwhile."""
    actions: list[Action] = []
    t = d.now + step
    while t <= until:
        actions += d.at(t).actions
        actions += probe(d, ours).actions
        heard = d.hear(peer_beat(Role.ACTIVE, epoch=2, executed=theirs))
        actions += heard.actions
        t += step
    return actions


def probe(d: Driver, ours: str) -> Decision:
    """db1's probe: read-only, its channel from db2 stopped whole."""
    return d.probe(writable=False, replicating=False, executed=ours, io_stopped=True)


def fenced(auto: RejoinAuto, ours: str) -> Driver:
    """db1, active at epoch 1 holding ``ours``, hears db2 active at epoch 2."""
    d = promoted_active(cfg(auto))
    probe(d, ours)
    d.hear(peer_beat(Role.ACTIVE, epoch=2, executed=NEW_ACTIVE))
    return d


def test_off_fences_a_deposed_active_even_when_it_lacks_nothing() -> None:
    d = fenced(RejoinAuto.OFF, "1-1-10")
    assert d.role() is Role.FENCED and d.state.finding == Finding.PEER_NEWER_EPOCH
    actions = run(d, "1-1-10", NEW_ACTIVE, until=30.0)
    assert d.role() is Role.FENCED
    assert "REJOIN_AUTO" not in d.codes() and StartReplication() not in actions


def test_internal_lets_a_fenced_node_stand_by_once_the_active_holds_all_of_ours() -> None:
    """Fenced on a beat that did not show our last write yet (1-1-11); the next beats
    hold it: after warntime of that, the node replicates again, no operator needed."""
    d = fenced(RejoinAuto.INTERNAL, "1-1-11")
    run(d, "1-1-11", NEW_ACTIVE, until=15.0)
    assert d.role() is Role.FENCED
    actions = run(d, "1-1-11", "1-1-11,2-2-4", until=15.5)
    assert d.role() is Role.FENCED, "not before warntime"
    actions += run(d, "1-1-11", "1-1-11,2-2-4", until=17.0)
    assert d.role() is Role.STANDBY and "REJOIN_AUTO" in d.codes()
    assert StartReplication() in actions


def test_internal_never_rejoins_a_node_holding_a_client_write_the_active_lacks() -> None:
    d = fenced(RejoinAuto.INTERNAL, "1-1-11")
    actions = run(d, "1-1-11", NEW_ACTIVE, until=60.0)
    assert d.role() is Role.FENCED and d.state.finding == Finding.HOLDS_ERRANT
    assert not any(isinstance(a, AutoRejoin) for a in actions)
    assert "REJOIN_AUTO" not in d.codes()


def test_safe_asks_for_a_reapply_bounded_and_reports_each_outcome() -> None:
    d = fenced(RejoinAuto.SAFE, "1-1-11")
    actions = run(d, "1-1-11", NEW_ACTIVE, until=15.0)
    assert actions.count(AutoRejoin()) == 1, "one at a time"
    d.feed(ActionFailed(AutoRejoin(), "1 of 1 lost transaction(s) are not all safe"))
    assert "REJOIN_AUTO_FAILED" in d.codes() and d.role() is Role.FENCED
    actions = run(d, "1-1-11", NEW_ACTIVE, until=120.0)
    assert actions.count(AutoRejoin()) == 1, "tried again once, after a pause"
    d.feed(ActionFailed(AutoRejoin(), "still a conflict"))
    actions = run(d, "1-1-11", NEW_ACTIVE, until=300.0)
    assert AutoRejoin() not in actions, "never more than AUTO_REJOIN_TRIES per fencing"
    assert d.role() is Role.FENCED


def test_safe_stands_by_after_the_reapply_once_the_active_holds_all_of_ours() -> None:
    d = fenced(RejoinAuto.SAFE, "1-1-11")
    assert AutoRejoin() in run(d, "1-1-11", NEW_ACTIVE, until=15.0)
    # Rebuilt meanwhile: db1 holds the active's copy; the active re-applied 1-1-11 as 2-2-4.
    run(d, "1-1-10,2-2-4", "1-1-10,2-2-4", until=20.0)
    assert d.role() is Role.FENCED, "never while its own rejoin runs (it rewrites history)"
    d.feed(ActionDone(AutoRejoin(), "re-applied 1 safe transaction(s)"))
    assert "REJOIN_AUTO_RESOLVED" in d.codes()
    actions = run(d, "1-1-10,2-2-4", "1-1-10,2-2-4", until=22.0)
    assert d.role() is Role.STANDBY and StartReplication() in actions
    assert d.state.auto_rejoin_tries == 0, "a new fencing gets its tries again"


def test_internal_does_not_ask_for_a_reapply() -> None:
    d = fenced(RejoinAuto.INTERNAL, "1-1-11")
    assert AutoRejoin() not in run(d, "1-1-11", NEW_ACTIVE, until=60.0)


def test_an_operators_command_is_judged_before_the_automatic_rejoin() -> None:
    """A clean fenced node asked to take over (the peer gone for good, say) answers the
    command; the automatic rejoin waits for the next decision."""
    d = fenced(RejoinAuto.INTERNAL, "1-1-11")
    run(d, "1-1-11", "1-1-11,2-2-4", until=12.5)  # clean since 12.5
    assert d.role() is Role.FENCED
    d.now = 13.2  # the automatic rejoin is due in this very decision
    decision = d.feed(OperatorRequested(Command.TAKEOVER))
    assert decision.state.finding is Finding.TAKEOVER_ASKED


def test_after_a_failed_automatic_run_a_clean_looking_position_is_not_trusted() -> None:
    """A run that failed between the history reset and the copy's position shows a
    position the active holds all of: not a rejoin. The next run that completes is."""
    d = fenced(RejoinAuto.SAFE, "1-1-11")
    assert AutoRejoin() in run(d, "1-1-11", NEW_ACTIVE, until=15.0)
    d.feed(ActionFailed(AutoRejoin(), "stopped while restarting db1's GTID history"))
    actions = run(d, "1-1-10", "1-1-11,2-2-4", until=30.0)  # half reset: looks clean
    assert d.role() is Role.FENCED and "REJOIN_AUTO" not in d.codes()
    assert AutoRejoin() not in actions, "not before AUTO_REJOIN_EVERY"
    assert AutoRejoin() in run(d, "1-1-11", NEW_ACTIVE, until=50.0), "tried once more"
    d.feed(ActionDone(AutoRejoin(), "re-applied 1 safe transaction(s)"))
    run(d, "1-1-11,2-2-4", "1-1-11,2-2-4", until=52.0)
    assert d.role() is Role.STANDBY


def test_internal_runs_the_workflow_after_a_gate_window() -> None:
    """A frozen active's in-doubt statement, committed at the thaw while its gate was shut:
    the node asks for the automatic run (which discards it), once and again at most."""
    d = fenced(RejoinAuto.INTERNAL, "1-1-11")
    d.feed(GateWindowOpened())
    actions = run(d, "1-1-11", NEW_ACTIVE, until=15.0)
    assert actions.count(AutoRejoin()) == 1
    d.feed(ActionDone(AutoRejoin(), "discarded 1 transaction(s)"))
    assert "REJOIN_AUTO_RESOLVED" in d.codes() and not d.state.gate_window


def test_a_refusal_before_any_change_still_trusts_a_clean_position() -> None:
    """The workflow refused before touching anything (``untouched``): once the active holds
    all of ours (an operator re-applied them, say), the node stands by by itself."""
    d = fenced(RejoinAuto.INTERNAL, "1-1-11")
    d.feed(GateWindowOpened())
    assert AutoRejoin() in run(d, "1-1-11", NEW_ACTIVE, until=15.0)
    d.feed(ActionFailed(AutoRejoin(), "1-1-11 was committed while clients could reach it", True))
    assert "REJOIN_AUTO_FAILED" in d.codes() and not d.state.auto_rejoin_failed
    run(d, "1-1-11", "1-1-11,2-2-4", until=25.0)
    assert d.role() is Role.STANDBY and "REJOIN_AUTO" in d.codes()


def test_a_window_recorded_while_active_counts_once_fenced() -> None:
    """The active released commits behind its gate as its peer fell silent (it was the
    one cut off: the peer promoted): fenced after the heal, it asks for the run."""
    d = promoted_active(cfg(RejoinAuto.INTERNAL))
    d.feed(GateWindowOpened())
    probe(d, "1-1-11")
    d.hear(peer_beat(Role.ACTIVE, epoch=2, executed=NEW_ACTIVE))
    assert AutoRejoin() in run(d, "1-1-11", NEW_ACTIVE, until=15.0)


def test_a_promotion_ends_the_windows_claim() -> None:
    """Windows recorded before a node became active concern an older term."""
    d = Driver(cfg(RejoinAuto.INTERNAL))
    d.start()
    d.feed(GateWindowOpened())
    d.healthy()
    d.vip(held=False)
    d.at(10.5)
    d.peer_sql(False)
    assert d.role() is Role.ACTIVE and not d.state.gate_window
