"""The agent's probe and actions against the real sandbox pair (db1 active, db2 read-only).

Tests run in file order and share one lab: each puts replication back as it found it,
except that semi-sync stays on after its test, and the last test kills db2 with SIGKILL
and restarts it through ``lab.up``.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Iterator
from typing import NamedTuple

import pytest

from dualbeat.core.gtid import GtidSet, parse_gtid_set
from dualbeat.errors import MysqlUnavailable
from dualbeat.mysql import control
from dualbeat.mysql.connection import Endpoint, Server
from dualbeat.mysql.dialect import Statement, ThreadState
from dualbeat.mysql.probe import LocalProbe, ProbeErrorKind, ProbeResult
from dualbeat_lab.sandbox import lab, mariadb
from dualbeat_lab.sandbox.files import ADMIN_USER
from tests.integration.labtools import inside, wait_for

pytestmark = pytest.mark.integration

# Close to the agent's monitor timeouts (150 ms), with headroom for a loaded CI machine.
MONITOR_TIMEOUT = 0.3
HANG_BOUND = 2.0  # a hang check, not a benchmark


def monitor_endpoint(sandbox: lab.LabInfo, node: str, password: str | None = None) -> Endpoint:
    """The agent's account, with monitor-like timeouts."""
    ep = sandbox.admin_endpoint(node)
    return dataclasses.replace(
        ep,
        password=ep.password if password is None else password,
        connect_timeout=MONITOR_TIMEOUT,
        read_timeout=MONITOR_TIMEOUT,
    )


def admin(sandbox: lab.LabInfo, node: str) -> Server:
    return Server(sandbox.admin_endpoint(node))


def app(sandbox: lab.LabInfo, node: str) -> Server:
    n = sandbox.node(node)
    return Server(
        Endpoint(node, n.lan_address, n.mysql_port, "app", sandbox.secrets.password("app"))
    )


def executed(server: Server) -> GtidSet:
    d = server.dialect
    text = server.variables([d.executed_gtids_var()])[d.executed_gtids_var()]
    return parse_gtid_set(text, d.gtid_family)


def received(server: Server) -> GtidSet:
    d = server.dialect
    status = d.parse_replica_status(server.query(d.replica_status()))
    assert status is not None
    return parse_gtid_set(status.retrieved_gtids, d.gtid_family)


def replica_state(server: Server) -> tuple[ThreadState, ThreadState]:
    d = server.dialect
    status = d.parse_replica_status(server.query(d.replica_status()))
    assert status is not None
    return status.io_state, status.sql_state


def running(server: Server) -> bool:
    return replica_state(server) == (ThreadState.RUNNING, ThreadState.RUNNING)


def write_rows(server: Server, count: int) -> None:
    for _ in range(count):
        server.execute(Statement("INSERT INTO app.ops (v) VALUES (1)"))


def binlog_dumps(server: Server) -> set[int]:
    """Ids of the peer's replication connections to this server."""
    rows = server.query(server.dialect.list_client_sessions())
    return {int(r["ID"]) for r in rows if str(r["COMMAND"]).startswith("Binlog Dump")}


def probe(
    sandbox: lab.LabInfo, node: str, *, write: bool, password: str | None = None
) -> ProbeResult:
    p = LocalProbe(monitor_endpoint(sandbox, node, password))
    try:
        return p.probe(write=write, node=node, epoch=1)
    finally:
        p.close()


@pytest.fixture(scope="module", autouse=True)
def schema(sandbox: lab.LabInfo) -> Iterator[None]:
    """dualbeat's schema and a test table, created on the active and replicated to db2."""
    with inside("client"), admin(sandbox, "db1") as db1, admin(sandbox, "db2") as db2:
        control.ensure_schema(db1)
        control.ensure_schema(db1)  # idempotent
        db1.execute(
            Statement(
                "CREATE TABLE IF NOT EXISTS app.ops (id INT AUTO_INCREMENT PRIMARY KEY, v INT)"
            )
        )
        wait_for(lambda: executed(db1) <= executed(db2), 10, "db2 to apply the schema")
    yield


def test_probe_on_active_writes_a_heartbeat_outside_the_binlog(sandbox: lab.LabInfo) -> None:
    """The write probe proves the server takes writes; it is not binlogged, so it never
    waits for a semi-sync acknowledgement (a dead standby must not fail the active) and
    never adds a GTID."""
    with inside("client"), admin(sandbox, "db1") as db1, admin(sandbox, "db2") as db2:
        before = executed(db1)
        p = LocalProbe(monitor_endpoint(sandbox, "db1"))
        try:
            first = p.probe(write=True, node="db1", epoch=7)
            again = p.probe(write=True, node="db1", epoch=7)  # reuses the connection
        finally:
            p.close()
        for result in (first, again):
            assert result.ok, result.detail
            assert (result.error, result.writable, result.read_only) == (None, True, False)
            assert (result.io_running, result.sql_running) == (True, True)
            assert result.gtid_family == "mariadb"
            assert result.origin == "1"  # db1's server_id: what its own GTIDs carry
            assert result.executed.startswith("1-1-")
        assert again.latency < 0.2
        assert executed(db1) == before  # no GTID from the probe
        rows = db1.query(
            Statement("SELECT epoch FROM dualbeat.heartbeat WHERE node = %s", ("db1",))
        )
        assert rows[0]["epoch"] == 7
        assert (
            db2.query(Statement("SELECT epoch FROM dualbeat.heartbeat WHERE node = %s", ("db1",)))
            == []
        )


def test_probe_on_standby_reads_replication_state(sandbox: lab.LabInfo) -> None:
    with inside("client"), admin(sandbox, "db1") as db1:
        primary = executed(db1)
        result = probe(sandbox, "db2", write=False)
    assert result.ok, result.detail
    assert (result.read_only, result.writable) == (True, None)
    assert (result.io_running, result.sql_running, result.seconds_behind) == (True, True, 0)
    assert result.semisync_source is False
    assert primary <= parse_gtid_set(result.received, "mariadb")


def test_write_probe_on_read_only_server_fails_without_writing(sandbox: lab.LabInfo) -> None:
    """The dualbeat account may write through read_only on MariaDB: the probe must not."""
    with inside("client"), admin(sandbox, "db2") as db2:
        before = executed(db2)
        result = probe(sandbox, "db2", write=True)
        assert not result.ok
        assert (result.error, result.writable, result.read_only) == (
            ProbeErrorKind.QUERY,
            False,
            True,
        )
        assert "read_only" in result.detail
        assert executed(db2) == before  # no errant transaction on the standby
        mine = Statement("SELECT COUNT(*) AS n FROM dualbeat.heartbeat WHERE node = 'db2'")
        assert db2.query(mine)[0]["n"] == 0


def test_wrong_password_is_misconfigured(sandbox: lab.LabInfo) -> None:
    with inside("client"):
        result = probe(sandbox, "db1", write=True, password="not-the-password")
    assert (result.ok, result.error) == (False, ProbeErrorKind.MISCONFIGURED)
    assert "Access denied" in result.detail
    assert result.gtid_family is None  # never got in


def test_kill_client_sessions_spares_replication_and_our_account(sandbox: lab.LabInfo) -> None:
    with (
        inside("client"),
        admin(sandbox, "db1") as db1,
        admin(sandbox, "db1") as agent_peer,
        app(sandbox, "db1") as client,
    ):
        client_id = int(client.query(Statement("SELECT CONNECTION_ID() AS id"))[0]["id"])
        agent_peer.query(Statement("SELECT 1"))
        dumps = binlog_dumps(db1)
        assert dumps, "db2 should be replicating from db1"

        killed = control.kill_client_sessions(db1, spare_users=[ADMIN_USER])

        assert client_id in killed
        with pytest.raises(MysqlUnavailable):
            client.query(Statement("SELECT 1"))
        agent_peer.query(Statement("SELECT 1"))  # spared
        assert binlog_dumps(db1) == dumps  # the peer's replication connection untouched
        assert running(db1)  # db1's own replica threads untouched
        assert control.kill_client_sessions(db1, spare_users=[ADMIN_USER]) == []


def test_prepare_takeover_applies_everything_received(sandbox: lab.LabInfo) -> None:
    with inside("client"), app(sandbox, "db1") as client, admin(sandbox, "db2") as db2:
        write_rows(client, 3)
        with admin(sandbox, "db1") as db1:
            primary = executed(db1)
        wait_for(lambda: primary <= received(db2), 10, "db2 to receive db1's writes")
        try:
            point = control.prepare_takeover(db2, timeout=10)
            assert point.applied_all
            assert point.unapplied == ""
            assert primary <= parse_gtid_set(point.executed, "mariadb")
            assert point.waited < 5
            assert replica_state(db2)[1] is ThreadState.STOPPED  # nothing applied after it
        finally:
            control.start_replication(db2)
        wait_for(lambda: running(db2), 10, "db2 to replicate again")


def test_prepare_takeover_waits_for_a_blocked_applier(sandbox: lab.LabInfo) -> None:
    """db2's applier is held on a row lock, released half a second into the wait."""
    row = Statement("SELECT v FROM app.ops WHERE id = 1000 FOR UPDATE")
    with (
        inside("client"),
        app(sandbox, "db1") as client,
        admin(sandbox, "db1") as db1,
        admin(sandbox, "db2") as db2,
        admin(sandbox, "db2") as holder,
    ):
        client.execute(Statement("INSERT INTO app.ops (id, v) VALUES (1000, 0)"))
        wait_for(lambda: executed(db1) <= executed(db2), 10, "db2 to apply the row")
        holder.execute(Statement("BEGIN"), row)
        release = threading.Timer(0.5, holder.execute, (Statement("COMMIT"),))
        try:
            client.execute(Statement("UPDATE app.ops SET v = 1 WHERE id = 1000"))
            wait_for(lambda: executed(db1) <= received(db2), 10, "db2 to receive the update")
            assert not executed(db1) <= executed(db2), "the applier should be blocked"
            release.start()
            point = control.prepare_takeover(db2, timeout=10)
        finally:
            if release.ident is not None:  # started
                release.join()
            holder.close()  # rolls back if the COMMIT never ran
            control.start_replication(db2)
        assert point.applied_all, point
        assert executed(db1) <= parse_gtid_set(point.executed, "mariadb")
        assert 0.3 <= point.waited < 5
        wait_for(lambda: running(db2), 10, "db2 to replicate again")


def test_prepare_takeover_interrupts_an_applier_stuck_past_the_timeout(
    sandbox: lab.LabInfo,
) -> None:
    """A row lock on db2 outlives the wait: the takeover still ends in about its timeout
    (STOP SLAVE alone would wait for the applier's lock wait) and names the stuck GTID."""
    row = Statement("SELECT v FROM app.ops WHERE id = 1000 FOR UPDATE")
    with (
        inside("client"),
        app(sandbox, "db1") as client,
        admin(sandbox, "db1") as db1,
        admin(sandbox, "db2") as db2,
        admin(sandbox, "db2") as holder,
    ):
        holder.execute(Statement("BEGIN"), row)
        try:
            before = executed(db1)
            client.execute(Statement("UPDATE app.ops SET v = 2 WHERE id = 1000"))
            stuck = executed(db1) - before
            wait_for(lambda: executed(db1) <= received(db2), 10, "db2 to receive the update")
            started = time.monotonic()
            point = control.prepare_takeover(db2, timeout=1)
            elapsed = time.monotonic() - started
            assert replica_state(db2)[1] is ThreadState.STOPPED  # nothing applied after it
        finally:
            holder.close()  # releases the lock
            control.start_replication(db2)
        assert not point.applied_all
        assert parse_gtid_set(point.unapplied, "mariadb") == stuck
        assert point.waited >= 0.9
        assert elapsed < 3
        wait_for(lambda: executed(db1) <= executed(db2), 10, "db2 to apply the update after all")


def test_prepare_takeover_with_stopped_applier_reports_what_is_missing(
    sandbox: lab.LabInfo,
) -> None:
    with (
        inside("client"),
        app(sandbox, "db1") as client,
        admin(sandbox, "db1") as db1,
        admin(sandbox, "db2") as db2,
    ):
        db2.execute(db2.dialect.stop_sql_thread())
        try:
            before = executed(db1)
            write_rows(client, 3)
            missing = executed(db1) - before
            assert missing.count() == 3
            wait_for(lambda: executed(db1) <= received(db2), 10, "db2 to receive the writes")

            started = time.monotonic()
            point = control.prepare_takeover(db2, timeout=10)
            elapsed = time.monotonic() - started

            assert not point.applied_all
            assert parse_gtid_set(point.unapplied, "mariadb") == missing
            assert elapsed < 2, "a stopped applier must not cost the whole timeout"
            assert replica_state(db2)[1] is ThreadState.STOPPED  # nothing applied after it
        finally:
            control.start_replication(db2)
        wait_for(lambda: executed(db1) <= executed(db2), 10, "db2 to catch up again")


def test_read_only_switch(sandbox: lab.LabInfo) -> None:
    with inside("client"), admin(sandbox, "db2") as db2:
        assert control.read_only_state(db2)
        control.set_read_only(db2, True)  # idempotent
        assert control.read_only_state(db2)
    with inside("client"), admin(sandbox, "db1") as db1:
        assert not control.read_only_state(db1)


def test_record_epoch_replicates(sandbox: lab.LabInfo) -> None:
    with inside("client"), admin(sandbox, "db1") as db1, admin(sandbox, "db2") as db2:
        control.record_epoch(db1, 4, "db1", '{"unapplied": ""}')
        control.record_epoch(db1, 5, "db1", '{"unapplied": "1-1-3..4"}')
        query = Statement("SELECT epoch, node, takeover FROM dualbeat.epoch WHERE id = 1")
        row = wait_for(
            lambda: [r for r in db2.query(query) if r["epoch"] == 5], 10, "epoch 5 on db2"
        )[0]
        assert row["node"] == "db1"
        assert "1-1-3..4" in row["takeover"]
        with pytest.raises(ValueError):
            control.record_epoch(db1, 6, "db1", "not json")


class SemiSync(NamedTuple):
    """MariaDB's source-side counters; ``status`` is ON as soon as the source side is
    enabled, even with no replica connected, so ``clients`` and ``yes_tx`` are the proof."""

    status: str
    clients: int
    yes_tx: int


def semisync_counters(server: Server) -> SemiSync:
    prefix = "Rpl_semi_sync_master_"
    values = server.status([f"{prefix}status", f"{prefix}clients", f"{prefix}yes_tx"])
    return SemiSync(
        values[f"{prefix}status".lower()],
        int(values[f"{prefix}clients".lower()]),
        int(values[f"{prefix}yes_tx".lower()]),
    )


def test_configure_semisync_once_then_nothing(sandbox: lab.LabInfo) -> None:
    with (
        inside("client"),
        admin(sandbox, "db1") as db1,
        admin(sandbox, "db2") as db2,
        app(sandbox, "db1") as client,
    ):
        assert control.configure_semisync(db1, source=True, timeout_ms=1000)
        assert control.configure_semisync(db2, source=True, timeout_ms=1000)
        # db2's I/O thread reconnected as a semi-sync replica of db1.
        wait_for(lambda: semisync_counters(db1).clients == 1, 10, "db2 acking db1")
        dumps = binlog_dumps(db1)

        assert not control.configure_semisync(db1, source=True, timeout_ms=1000)
        assert not control.configure_semisync(db2, source=True, timeout_ms=1000)
        assert binlog_dumps(db1) == dumps  # no I/O thread restart the second time

        counters = semisync_counters(db1)
        assert counters.status == "ON"
        write_rows(client, 1)
        wait_for(
            lambda: semisync_counters(db1).yes_tx > counters.yes_tx,
            10,
            "db1's commit to be acknowledged by db2",
        )
        assert probe(sandbox, "db1", write=False).semisync_source is True
        # A standby's source side goes off (nobody would acknowledge it), once.
        assert control.configure_semisync(db2, source=False, timeout_ms=1000)
        assert not control.configure_semisync(db2, source=False, timeout_ms=1000)
        assert db2.variables(["rpl_semi_sync_master_enabled"]) == {
            "rpl_semi_sync_master_enabled": "OFF"
        }


def test_frozen_server_is_unavailable_within_the_timeouts(sandbox: lab.LabInfo) -> None:
    with inside("client"):
        p = LocalProbe(monitor_endpoint(sandbox, "db2"))
        try:
            assert p.probe(write=False, node="db2", epoch=1).ok
            mariadb.freeze(sandbox.lab, "db2")
            try:
                results = []
                for _ in range(2):  # on the open connection, then a reconnect
                    started = time.monotonic()
                    result = p.probe(write=False, node="db2", epoch=1)
                    results.append((result, time.monotonic() - started))
            finally:
                mariadb.thaw(sandbox.lab, "db2")
            for result, elapsed in results:
                assert (result.ok, result.error) == (False, ProbeErrorKind.UNAVAILABLE)
                assert elapsed < HANG_BOUND
                assert result.latency <= elapsed
            wait_for(lambda: p.probe(write=False, node="db2", epoch=1).ok, 10, "db2 to answer")
        finally:
            p.close()


def test_killed_server_is_unavailable(sandbox: lab.LabInfo) -> None:
    """Last: SIGKILLs db2, then restarts it through ``lab.up`` for the module's teardown."""
    p = LocalProbe(monitor_endpoint(sandbox, "db2"))
    try:
        with inside("client"):
            assert p.probe(write=False, node="db2", epoch=1).ok
        mariadb.kill_hard(sandbox.lab, "db2")
        with inside("client"):
            on_open = p.probe(write=False, node="db2", epoch=1)
            on_connect = p.probe(write=False, node="db2", epoch=1)
        for result in (on_open, on_connect):
            assert (result.ok, result.error) == (False, ProbeErrorKind.UNAVAILABLE)
            assert result.latency < HANG_BOUND
    finally:
        p.close()
        lab.up(sandbox.lab.state_dir)
    with inside("client"):
        wait_for(lambda: probe(sandbox, "db2", write=False).ok, 30, "db2 to be back")
