"""Issue 13, findings 7-11: fault sequences the pure core let through, one scenario each.

Each test reproduces the sequence from the review with the fake-clock driver (no I/O) and
asserts what must happen instead.
"""

from __future__ import annotations

import dataclasses

from dualbeat.agent.observers import to_observation
from dualbeat.core.actions import Exit, PersistState, SetReadOnly, SetSemiSync
from dualbeat.core.durable import Durable
from dualbeat.core.findings import Finding
from dualbeat.core.observations import (
    ActionDone,
    PeerBeat,
    PingProbed,
    ProbeFailure,
    ShutdownRequested,
    TakeoverPrepared,
)
from dualbeat.core.roles import Health, Role
from dualbeat.mysql.probe import ProbeErrorKind, ProbeResult
from tests.unit.core_driver import DB1, DB2, Driver, gtids, peer_beat, promoted_active


def _standby() -> Driver:
    d = Driver(DB2)
    d.start(Durable(epoch=1, highest_seen=1))
    d.healthy()
    d.hear(peer_beat(Role.ACTIVE, node="db1", epoch=1))
    d.settle()
    assert d.role() is Role.STANDBY
    return d


def _standby_beat(**changes: object) -> PeerBeat:
    beat = dataclasses.replace(peer_beat(Role.STANDBY, epoch=1), replicating=True, lag=0)
    return dataclasses.replace(beat, **changes)  # type: ignore[arg-type]


def test_finding_07_semisync_is_reapplied_after_the_standbys_mysqld_restarts() -> None:
    """The replica side of semi-sync is a runtime setting: a restarted mysqld comes back
    with it off. The core must ask again once the server is back, and re-check it now and
    then (a restart can fall between two probes)."""
    d = _standby()
    assert any(isinstance(a, SetSemiSync) for a in d.actions())
    before = len(d.actions())
    d.at(1.0)
    for _ in range(3):  # mysqld stops...
        d.probe(ok=False)
    d.at(3.0)
    d.healthy()  # ...and is back, replica-side semi-sync off
    d.hear(peer_beat(Role.ACTIVE, node="db1", epoch=1))
    assert any(isinstance(a, SetSemiSync) for a in d.actions()[before:])
    d.settle()
    again = len(d.actions())
    for t in range(4, 40):  # a quiet minute: the setting is re-checked, not trusted
        d.at(float(t))
        d.probe()
        d.hear(peer_beat(Role.ACTIVE, node="db1", epoch=1))
    assert any(isinstance(a, SetSemiSync) for a in d.actions()[again:])


def test_finding_08_shutdown_waits_for_a_lagging_standby() -> None:
    """``systemctl stop`` on the active while the standby lags (a long ALTER applying):
    handing over now would let the strict apply time out with nobody writable. The active
    keeps the role until the standby has caught up."""
    d = promoted_active()
    d.hear(_standby_beat(lag=120))
    decision = d.feed(ShutdownRequested())
    assert d.role() is Role.ACTIVE
    assert Exit() not in decision.actions and SetReadOnly(True) not in decision.actions
    d.at(12.8)  # within deadtime of its last beat
    d.hear(_standby_beat(lag=0))  # caught up: now hand over
    assert d.role() is Role.STANDBY and d.state.finding == Finding.SHUTDOWN_HANDOVER.value


def test_finding_08_failed_shutdown_handover_keeps_a_writer() -> None:
    """The standby's strict apply times out and it rolls back: the stopping old active
    must not have exited; it takes the role back instead of leaving no writer."""
    d = promoted_active()
    d.hear(_standby_beat())
    d.feed(ShutdownRequested())
    assert d.role() is Role.STANDBY and d.state.yielding
    assert Exit() not in d.actions()
    d.settle()
    d.at(12.2)  # the standby starts its promotion (its beats say active, same epoch)...
    d.hear(peer_beat(Role.ACTIVE, epoch=1, writable=False, vip_held=False))
    assert Exit() not in d.actions()
    d.at(17.5)  # ...and rolls back: it yields the role back to us
    d.hear(_standby_beat(yielding=True, writable=False, vip_held=False, executed="1-1-10"))
    assert Exit() not in d.actions()
    assert d.role() is Role.ACTIVE and "SHUTDOWN_ABANDONED" in d.codes()


def test_finding_08_shutdown_exits_once_the_peer_is_promoted() -> None:
    d = promoted_active()
    d.hear(_standby_beat())
    d.feed(ShutdownRequested())
    d.settle()
    d.at(12.5)
    d.hear(peer_beat(Role.ACTIVE, epoch=2))
    assert Exit() in d.actions()


def test_finding_09_the_high_water_mark_is_saved_without_lag() -> None:
    """A restarted node compares itself with the saved high-water mark: a mark saved at
    most once a second misses the last second of writes."""
    d = promoted_active()
    d.hear(_standby_beat())
    d.settle()
    for i in range(11, 20):
        d.at(12.0 + i / 20)
        d.probe(writable=True, executed=f"1-1-{i}")
        d.settle()
        saved = [a.durable.high_water for a in d.actions() if isinstance(a, PersistState)]
        assert saved and gtids(f"1-1-{i}") <= gtids(saved[-1]), (i, saved[-1:])


def test_finding_10_busy_answers_do_not_reset_the_failure_count() -> None:
    """A hung server with max_connections full: the old connection times out, every
    reconnect is refused with 1040. Alternating answers must still add up to a failure."""
    d = promoted_active()
    d.hear(_standby_beat())
    for _ in range(3):
        d.probe(ok=False, failure=ProbeFailure.UNAVAILABLE)
        d.probe(ok=False, failure=ProbeFailure.BUSY)
    assert d.state.local.health is Health.FAILED
    assert d.role() is Role.STANDBY and "LOCAL_FAILED" in d.codes()


def _probe_result(**fields: object) -> ProbeResult:
    base = ProbeResult(
        ok=True,
        error=None,
        detail="",
        latency=0.01,
        writable=True,
        read_only=False,
        executed="1-1-10",
        received="1-1-10",
        gtid_family="mariadb",
        origin="1",
    )
    return dataclasses.replace(base, **fields)  # type: ignore[arg-type]


def test_finding_11_slow_write_probes_are_not_a_dead_server() -> None:
    """A backup's FLUSH TABLES WITH READ LOCK (or an fsync stall): the reads answer, the
    heartbeat write times out. Three of those must not fail the active over."""
    d = promoted_active()
    d.hear(_standby_beat())
    stalled = _probe_result(
        ok=False, error=ProbeErrorKind.UNAVAILABLE, writable=False, detail="read timed out"
    )
    for i in range(6):
        d.at(12.0 + i * 0.2)
        d.feed(to_observation(stalled))
    assert d.role() is Role.ACTIVE
    assert "LOCAL_FAILED" not in d.codes()


def test_finding_11_read_only_set_by_hand_on_the_active_is_repaired() -> None:
    d = promoted_active()
    d.hear(_standby_beat())
    refused = _probe_result(
        ok=False,
        error=ProbeErrorKind.QUERY,
        writable=False,
        read_only=True,
        detail="read_only is ON: the write probe was not sent",
    )
    before = len(d.actions())
    for i in range(6):
        d.at(12.0 + i * 0.2)
        d.feed(to_observation(refused))
    assert d.role() is Role.ACTIVE
    assert SetReadOnly(False) in d.actions()[before:]


def test_finding_11_one_no_carrier_sample_does_not_make_the_active_yield() -> None:
    d = promoted_active()
    d.hear(_standby_beat())
    d.vip(held=True, carrier=False)  # one sample: a NIC renegotiating
    d.vip(held=True, carrier=True)
    assert d.role() is Role.ACTIVE
    assert Finding.LINK_DOWN.value not in {d.state.finding}
    assert "LINK_DOWN" not in d.codes()


def test_finding_11_one_lost_ping_round_does_not_isolate_the_active() -> None:
    d = Driver(dataclasses.replace(DB1, ping=True))
    d.start()
    d.healthy(writable=True)
    d.vip(held=True)
    d.feed(PingProbed(True))
    d.at(0.5)
    d.hear(peer_beat(Role.STANDBY))
    d.settle()
    assert d.role() is Role.ACTIVE
    d.at(1.0)
    d.feed(PingProbed(False))  # one round lost...
    d.at(2.5)  # ...while the peer is silent too
    assert d.role() is Role.ACTIVE
    d.feed(PingProbed(True))
    assert d.role() is Role.ACTIVE and "ISOLATED" not in d.codes()


def test_finding_08_handover_final_position_still_applied() -> None:
    """Guard for the rework: a caught-up standby still takes over losslessly."""
    standby = _standby()
    standby.at(0.5)
    standby.hear(
        peer_beat(
            Role.STANDBY,
            node="db1",
            epoch=1,
            yielding=True,
            writable=False,
            vip_held=False,
            final="1-1-10",
        )
    )
    assert standby.role() is Role.ACTIVE
    standby.feed(TakeoverPrepared(gtids("1-1-10"), gtids("1-1-10"), gtids(""), True))
    assert any(isinstance(a, PersistState) for a in standby.actions())
    standby.settle()
    standby.feed(ActionDone(SetReadOnly(False)))
    assert standby.state.durable.epoch == 2
