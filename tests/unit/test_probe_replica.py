"""The probe reuses a steady replica status, and reads it again whenever anything could
have changed it (``mysql.probe``: its parsing was two thirds of an idle probe's CPU)."""

from __future__ import annotations

from dualbeat.mysql.dialect import ThreadState
from dualbeat.mysql.fake import Failure, FakeReplica, FakeServer
from dualbeat.mysql.probe import REPLICA_REFRESH, LocalProbe


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def standby() -> tuple[FakeServer, LocalProbe, Clock]:
    server = FakeServer(server_id=2, gtid_domain_id=2)
    server.replica = FakeReplica(seconds_behind=0)
    server.replicate("1-1-5")
    clock = Clock()
    return server, LocalProbe(server.endpoint, connect=server.connect, clock=clock), clock


def status_reads(server: FakeServer) -> int:
    return sum(1 for sql in server.statements if sql.startswith("SHOW SLAVE STATUS"))


def test_a_steady_replica_is_read_once_per_refresh() -> None:
    server, probe, clock = standby()
    first = probe.probe(write=False, node="db2", epoch=1)
    for _ in range(4):
        clock.now += REPLICA_REFRESH / 5
        again = probe.probe(write=False, node="db2", epoch=1)
        assert (again.io_running, again.sql_running, again.received) == (
            first.io_running,
            first.sql_running,
            first.received,
        )
    assert status_reads(server) == 1
    clock.now += REPLICA_REFRESH / 5
    probe.probe(write=False, node="db2", epoch=1)
    assert status_reads(server) == 2


def test_moving_data_is_read_at_every_probe() -> None:
    server, probe, clock = standby()
    probe.probe(write=False, node="db2", epoch=1)
    server.replicate("1-1-6")
    clock.now += 0.2
    seen = probe.probe(write=False, node="db2", epoch=1)
    assert status_reads(server) == 2 and seen.received == "1-1-6"


def test_a_channel_not_running_is_read_at_every_probe() -> None:
    server, probe, clock = standby()
    assert server.replica is not None
    server.replica.sql = ThreadState.STOPPED
    for _ in range(3):
        clock.now += 0.2
        probe.probe(write=False, node="db2", epoch=1)
    assert status_reads(server) == 3
    server.replica.sql = ThreadState.RUNNING  # started again: seen at the next probe
    clock.now += 0.2
    assert probe.probe(write=False, node="db2", epoch=1).sql_running is True


def test_a_stop_is_seen_within_the_refresh() -> None:
    server, probe, clock = standby()
    probe.probe(write=False, node="db2", epoch=1)
    assert server.replica is not None
    server.replica.io = ThreadState.STOPPED
    clock.now += REPLICA_REFRESH
    seen = probe.probe(write=False, node="db2", epoch=1)
    assert seen.io_running is False and seen.io_stopped is True


def test_the_caller_can_ask_for_a_fresh_reading() -> None:
    server, probe, clock = standby()
    probe.probe(write=False, node="db2", epoch=1)
    clock.now += 0.2
    probe.probe(write=False, node="db2", epoch=1, watch_replica=True)
    assert status_reads(server) == 2


def test_a_failed_probe_forgets_the_reading() -> None:
    server, probe, clock = standby()
    probe.probe(write=False, node="db2", epoch=1)
    server.fail(Failure.TIMEOUT)
    clock.now += 0.2
    assert not probe.probe(write=False, node="db2", epoch=1).ok
    server.fail(None)
    clock.now += 0.2
    assert probe.probe(write=False, node="db2", epoch=1).ok
    assert status_reads(server) == 2


def test_no_replica_configured_is_read_at_every_probe() -> None:
    server = FakeServer(server_id=1, gtid_domain_id=1)
    clock = Clock()
    probe = LocalProbe(server.endpoint, connect=server.connect, clock=clock)
    for _ in range(3):
        clock.now += 0.2
        assert probe.probe(write=False, node="db1", epoch=1).io_running is None
    assert status_reads(server) == 3


def binlog_offs(server: FakeServer) -> int:
    return sum(1 for sql in server.statements if sql.startswith("SET SESSION sql_log_bin"))


def test_the_write_probe_turns_the_binary_log_off_once_per_session() -> None:
    """A round trip fewer per write probe (five a second on the active); a new session
    after a failure turns it off again before its first write, so nothing is logged."""
    server = FakeServer(server_id=1, gtid_domain_id=1)
    server.read_only = False
    before = server.executed
    probe = LocalProbe(server.endpoint, connect=server.connect, clock=Clock())
    for _ in range(3):
        assert probe.probe(write=True, node="db1", epoch=1).writable
    assert binlog_offs(server) == 1
    server.fail(Failure.TIMEOUT)
    assert not probe.probe(write=True, node="db1", epoch=1).ok
    server.fail(None)
    assert probe.probe(write=True, node="db1", epoch=1).writable
    assert binlog_offs(server) == 2
    assert server.executed == before  # no heartbeat write was logged
