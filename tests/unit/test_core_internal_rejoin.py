"""Issue 12 item 1: a deposed active whose only difference with the new active is
dualbeat's own (the probe leaves its internal GTID domains out) is never fenced: it stands
by and replicates again by itself. One holding a client write of its own, or whose
position is unknown, is fenced for the review."""

from __future__ import annotations

from dualbeat.core.actions import Action, StartReplication
from dualbeat.core.advertise import advert
from dualbeat.core.roles import Finding, Role
from dualbeat.core.state import Decision
from tests.unit.core_driver import Driver, peer_beat, promoted_active

NEW_ACTIVE = "1-1-10,2-2-3"  # db2 took over with db1's 1-1-10 and wrote 2-2-1..3


def stopped_channel(d: Driver, executed: str) -> Decision:
    """db1's probe: its channel from db2 stopped whole since it took over."""
    return d.probe(writable=False, replicating=False, executed=executed, io_stopped=True)


def depose(ours: str | None) -> tuple[Driver, list[Role], list[Action]]:
    """db1, active at epoch 1 with ``ours`` (None: its probe fails), hears db2 active at
    epoch 2, then keeps probing and hearing it for ten seconds."""
    d = promoted_active()
    roles: list[Role] = []
    actions: list[Action] = []
    t = 20.0
    while t < 30.0:
        d.at(t)
        probed = stopped_channel(d, ours) if ours else d.probe(ok=False)
        heard = d.hear(peer_beat(Role.ACTIVE, epoch=2, executed=NEW_ACTIVE))
        actions += [*probed.actions, *heard.actions]
        roles.append(d.role())
        t += 0.5
    return d, roles, actions


def test_a_deposed_active_holding_nothing_of_its_own_stands_by_never_fenced() -> None:
    d, roles, actions = depose("1-1-10")
    assert Role.FENCED not in roles, roles
    assert d.role() is Role.STANDBY
    assert StartReplication() in actions


def test_a_deposed_active_holding_a_client_write_is_fenced() -> None:
    d, _, _ = depose("1-1-11")
    assert d.role() is Role.FENCED


def test_a_deposed_active_that_cannot_read_its_position_is_fenced() -> None:
    d, _, _ = depose(None)
    assert d.role() is Role.FENCED


def test_a_superseded_active_demotes_as_a_fenced_one_would() -> None:
    d = promoted_active()  # epoch 1, 1-1-10
    decision = d.hear(peer_beat(Role.ACTIVE, epoch=2, executed=NEW_ACTIVE))
    assert d.role() is Role.STANDBY and d.state.finding == Finding.SUPERSEDED
    # The demotion's order (the client gate, the VIP, then MySQL: issue 14), in full.
    assert [type(a).__name__ for a in decision.actions][:5] == [
        "ShutClients",
        "ReleaseVip",
        "SendBeat",
        "SetReadOnly",
        "KillSessions",
    ]


def test_a_superseded_active_never_says_active_at_the_new_active_s_epoch() -> None:
    """Until its VIP is released a deposed active still says ``active`` (``demoting``),
    and must say it at the epoch it served at: ``active`` at the peer's epoch is a tie of
    two actives, which the preferred node wins, fencing the new active (seen in
    test_internal_writes after an isolation healed)."""
    d = promoted_active()  # epoch 1, 1-1-10
    d.hear(peer_beat(Role.ACTIVE, epoch=2, executed=NEW_ACTIVE))
    seen = [advert(d.state)]
    d.at(20.5)
    stopped_channel(d, "1-1-10")  # the next probe, the VIP not released yet
    seen.append(advert(d.state))
    d.hear(peer_beat(Role.ACTIVE, epoch=2, executed=NEW_ACTIVE))
    seen.append(advert(d.state))
    assert all(a.epoch == 1 for a in seen if a.role is Role.ACTIVE), seen
