"""Corners of the core that the scenario tests do not reach: each names the rule it pins.

States are built directly and judged with ``assess`` (or folded with ``decide``), so each
test is one rule, not a scenario.
"""

from __future__ import annotations

import pytest

from dualbeat.core.decide import decide
from dualbeat.core.durable import Durable
from dualbeat.core.evolve import evolve
from dualbeat.core.findings import Finding, assess, errant
from dualbeat.core.gtid import MariadbGtidSet, MysqlGtidSet
from dualbeat.core.lease import behind_high_water, grow_high_water
from dualbeat.core.observations import Command, MysqlProbed, ShutdownRequested, Tick
from dualbeat.core.reasons import ReasonCode
from dualbeat.core.roles import Health, Role
from dualbeat.core.state import LocalView, NodeState, PeerView
from tests.unit.core_driver import DB1, DB2, gtids, peer_beat, promoted_active

U1 = "3e11fa47-71ca-11e1-9e33-c80aa9429562"
NOW = 20.0


def node(role: Role, beat_role: Role | None = None, **local: object) -> NodeState:
    """A node at ``NOW`` with a healthy MySQL, hearing the peer just now (if ``beat_role``)."""
    view = LocalView(health=Health.HEALTHY, writable=role is Role.ACTIVE, **local)  # type: ignore[arg-type]
    peer = PeerView(beat=peer_beat(beat_role, epoch=1), heard_at=NOW) if beat_role else PeerView()
    return NodeState(role=role, durable=Durable(epoch=1), local=view, peer=peer, vip_held=None)


def test_two_actives_at_one_epoch_the_first_node_wins_the_tie() -> None:
    s = node(Role.ACTIVE, Role.ACTIVE)
    assert assess(DB1, s, NOW) is Finding.TWO_ACTIVES_WIN
    assert assess(DB2, s, NOW) is Finding.TWO_ACTIVES_LOSE


def test_election_prefers_the_node_holding_every_transaction_of_the_other() -> None:
    # Neither is writable nor holds the VIP: the executed sets decide before config order.
    ahead = evolve(node(Role.STANDBY, Role.STANDBY, executed=gtids("1-1-12")), vip_held=False)
    ahead = evolve(ahead, local=evolve(ahead.local, writable=False))
    assert assess(DB2, ahead, NOW) is Finding.ELECTED  # db2 would lose on config order
    behind = evolve(ahead, local=evolve(ahead.local, executed=gtids("1-1-5")))
    assert assess(DB1, behind, NOW) is Finding.NOT_ELECTED  # db1 would win on config order


def test_a_node_that_just_yielded_is_never_elected() -> None:
    s = evolve(node(Role.STANDBY, Role.STANDBY), yielding=True, vip_held=False)
    s = evolve(s, local=evolve(s.local, writable=False))
    assert assess(DB1, s, NOW) is Finding.NOT_ELECTED


def test_errant_needs_both_sets_and_an_origin() -> None:
    beat = peer_beat(Role.ACTIVE, executed="1-1-10")
    assert not errant(node(Role.STANDBY), beat)  # our set never probed
    mine = node(Role.STANDBY, executed=gtids("1-1-10,0-2-3"), origin="2")
    assert errant(mine, beat)
    assert not errant(evolve(mine, local=evolve(mine.local, origin=None)), beat)


def test_the_high_water_grows_and_survives_bad_saved_text_and_a_family_change() -> None:
    seen = gtids("1-1-5")
    assert grow_high_water(None, "", None) is None
    assert grow_high_water(None, "not a gtid set", seen) == seen  # starts over, grows
    assert grow_high_water(None, "1-1-9", seen) == gtids("1-1-9")  # already covers it
    other = MysqlGtidSet.parse(f"{U1}:1-3")
    assert grow_high_water(other, "", seen) is other  # another family: left as it is
    high = gtids("1-1-9")
    assert grow_high_water(high, "", seen) is high  # a subset changes nothing


def test_behind_the_high_water_counts_received_only_in_the_same_family() -> None:
    s = node(Role.STARTING, executed=gtids("1-1-5"), received=gtids("1-1-9"))
    assert behind_high_water(evolve(s, high_water=gtids("1-1-9"))) is None
    mixed = evolve(s, local=evolve(s.local, received=MysqlGtidSet.parse(f"{U1}:1-3")))
    assert behind_high_water(evolve(mixed, high_water=gtids("1-1-9"))) == MariadbGtidSet.parse(
        "1-1-9"
    ).difference(gtids("1-1-5"))


def test_evolve_refuses_a_field_the_state_does_not_have() -> None:
    with pytest.raises(TypeError, match="NodeState has no field 'nope'"):
        evolve(NodeState(), nope=1)


def test_an_exiting_node_decides_nothing_more() -> None:
    d = promoted_active()
    d.feed(ShutdownRequested(keep=True))
    assert d.state.exiting
    last = decide(DB1, d.state, Tick(), d.now + 1)
    assert last.actions == () and last.wake_at is None


def test_semisync_falling_back_on_the_active_is_reported() -> None:
    d = promoted_active()
    probe = MysqlProbed(ok=True, writable=True, executed=gtids("1-1-10"), semisync_active=True)
    d.feed(probe)
    fell = d.feed(evolve(probe, semisync_active=False))
    assert [r.code for r in fell.reasons] == [ReasonCode.SEMISYNC_FELL_BACK]


def test_a_takeover_while_unfit_waits() -> None:
    s = evolve(node(Role.STANDBY), command=Command.TAKEOVER)
    s = evolve(s, local=evolve(s.local, health=Health.BUSY))
    assert assess(DB1, s, NOW) is Finding.CANNOT_PROMOTE


def test_election_against_a_fenced_peer_is_always_won() -> None:
    s = evolve(node(Role.STANDBY, Role.FENCED), vip_held=False)
    s = evolve(s, local=evolve(s.local, writable=False))
    assert assess(DB2, s, NOW) is Finding.ELECTED  # db2 would lose on config order


def test_election_with_diverged_sets_falls_back_to_config_order() -> None:
    s = evolve(node(Role.STANDBY, Role.STANDBY, executed=gtids("1-1-9,2-2-3")), vip_held=False)
    s = evolve(s, local=evolve(s.local, writable=False))
    assert assess(DB1, s, NOW) is Finding.ELECTED
    assert assess(DB2, s, NOW) is Finding.NOT_ELECTED
