"""A live active disturbed by ordinary work must not fail over (issue 14 item 4; the soak's
backup lock, fsync stall and read_only set by hand): each test pins how the core judges it,
and that a dead server is still judged dead."""

from __future__ import annotations

from dualbeat.core.actions import SetReadOnly
from dualbeat.core.evolve import evolve
from dualbeat.core.observations import MysqlProbed, ProbeFailure
from dualbeat.core.reasons import ReasonCode
from dualbeat.core.roles import Health, Role
from tests.unit.core_driver import Driver, promoted_active

STALLED = MysqlProbed(ok=False, failure=ProbeFailure.STALLED, detail="write timed out")
READS_TIMED_OUT = MysqlProbed(ok=False, failure=ProbeFailure.UNAVAILABLE, detail="timed out")


def _feed_from(d: Driver, start: float, probes: list[MysqlProbed]) -> None:
    for i, probe in enumerate(probes):
        d.at(start + 0.2 * i, probe)


def test_read_only_set_by_hand_on_the_active_is_repaired_and_said_so() -> None:
    d = promoted_active()
    seen = d.probe(writable=False)  # someone ran SET GLOBAL read_only = ON
    assert d.role() is Role.ACTIVE
    assert SetReadOnly(False) in seen.actions
    assert [r.code for r in seen.reasons] == [ReasonCode.READ_ONLY_REPAIRED]
    again = d.probe(writable=False)  # said once, not at every probe while it lasts
    assert ReasonCode.READ_ONLY_REPAIRED not in [r.code for r in again.reasons]


def test_read_only_set_by_hand_in_maintenance_is_left_alone() -> None:
    d = promoted_active()
    d.state = evolve(d.state, durable=evolve(d.state.durable, maintenance=True))
    seen = d.probe(writable=False)
    assert SetReadOnly(False) not in seen.actions
    assert ReasonCode.READ_ONLY_REPAIRED not in [r.code for r in seen.reasons]


def test_read_timeouts_scattered_through_a_write_stall_do_not_add_up_to_a_failure() -> None:
    # A backup lock under load: most probes read fine and time out on the write (STALLED);
    # now and then a read times out too. Each STALLED probe proves the server answered
    # reads, so the timeouts are not a continuous failure window.
    d = promoted_active()
    _feed_from(d, 12.0, [STALLED, READS_TIMED_OUT] * 4)
    assert d.state.local.health is Health.HEALTHY
    assert d.role() is Role.ACTIVE
    assert ReasonCode.MYSQL_FAILED not in d.codes()


def test_reads_timing_out_in_a_row_during_a_stall_still_fail_the_server() -> None:
    d = promoted_active()
    _feed_from(d, 12.0, [STALLED, *[READS_TIMED_OUT] * 3])
    assert d.state.local.health is Health.FAILED
    assert ReasonCode.MYSQL_FAILED in d.codes()
