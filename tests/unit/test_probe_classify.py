"""How the monitor reads a failed probe: a wrong password must never look like a dead server.

The errors are built the way ``connection.classify`` builds them from PyMySQL, so the test
covers the whole chain from a server error number to the probe's verdict.
"""

from __future__ import annotations

import pymysql
import pytest

from dualbeat.errors import (
    MysqlBusy,
    MysqlError,
    MysqlMisconfigured,
    MysqlQueryError,
    MysqlUnavailable,
)
from dualbeat.mysql.connection import classify
from dualbeat.mysql.dialect import Dialect, ServerVersion
from dualbeat.mysql.probe import (
    HEARTBEAT_WRITE,
    ProbeErrorKind,
    classify_probe_error,
    probe_state,
)

K = ProbeErrorKind


@pytest.mark.parametrize(
    ("error", "kind"),
    [
        (MysqlUnavailable("db1", "Lost connection (timed out)", 2013), K.UNAVAILABLE),
        (MysqlUnavailable("db1", "timed out"), K.UNAVAILABLE),
        (MysqlBusy("db1", "Too many connections", 1040), K.BUSY),
        (MysqlMisconfigured("db1", "Access denied for user", 1045), K.MISCONFIGURED),
        (MysqlMisconfigured("db1", "INSERT command denied", 1142), K.MISCONFIGURED),
        (MysqlQueryError("db1", "running with --read-only", 1290), K.QUERY),
        (MysqlQueryError("db1", "Lock wait timeout exceeded", 1205), K.QUERY),
        (MysqlQueryError("db1", "The table 'heartbeat' is full", 1114), K.QUERY),
        (MysqlQueryError("db1", "Table 'dualbeat.heartbeat' doesn't exist", 1146), K.MISCONFIGURED),
        (MysqlQueryError("db1", "no code"), K.QUERY),
        (MysqlError("db1", "replication did not start"), K.QUERY),
    ],
)  # fmt: skip
def test_each_error_type_has_its_kind(error: MysqlError, kind: ProbeErrorKind) -> None:
    assert classify_probe_error(error) is kind


@pytest.mark.parametrize(
    ("exc", "kind"),
    [
        (pymysql.err.OperationalError(2003, "Can't connect to MySQL server"), K.UNAVAILABLE),
        (pymysql.err.OperationalError(2013, "Lost connection (timed out)"), K.UNAVAILABLE),
        (pymysql.err.OperationalError(1927, "Connection was killed"), K.UNAVAILABLE),
        (pymysql.err.OperationalError(1053, "Server shutdown in progress"), K.UNAVAILABLE),
        (TimeoutError("timed out"), K.UNAVAILABLE),
        (pymysql.err.OperationalError(1040, "Too many connections"), K.BUSY),
        (pymysql.err.OperationalError(1045, "Access denied"), K.MISCONFIGURED),
        (pymysql.err.OperationalError(1227, "need SUPER"), K.MISCONFIGURED),
        (pymysql.err.OperationalError(1290, "--read-only"), K.QUERY),
        (pymysql.err.OperationalError(1205, "Lock wait timeout"), K.QUERY),
        (pymysql.err.OperationalError(1021, "Disk full"), K.QUERY),
        (pymysql.err.ProgrammingError(1146, "Table doesn't exist"), K.MISCONFIGURED),
    ],
)  # fmt: skip
def test_from_driver_error_to_probe_kind(exc: BaseException, kind: ProbeErrorKind) -> None:
    assert classify_probe_error(classify("db1", exc)) is kind


def test_only_unavailable_and_query_are_failures_of_the_server() -> None:
    """The kinds the core counts against a server, spelled out once."""
    failures = {K.UNAVAILABLE, K.QUERY}
    assert failures | {K.BUSY, K.MISCONFIGURED} == set(K)


@pytest.mark.parametrize("raw", ["10.11.6-MariaDB-log", "5.7.7", "5.7.44", "8.0.36", "8.4.0"])
def test_probe_and_takeover_statements(raw: str) -> None:
    """The statements the probe and the takeover add survive PyMySQL's ``sql % args``."""
    d = Dialect.for_version(ServerVersion.parse(raw))
    state = probe_state(d)
    assert state.sql.count("%s") == len(state.args)
    counters = (d.semisync_source_status_var, d.semisync_unacked_var, d.semisync_waiting_var)
    settings = (d.semisync_timeout_var, d.semisync_wait_no_replica_var)
    # MariaDB's settings are built in (@@); MySQL's exist with the plugin only (a table).
    assert state.args == counters + (() if d.gtid_family == "mariadb" else settings)
    assert f"@@GLOBAL.{d.executed_gtids_var()} AS executed" in state.sql
    assert ("@@GLOBAL.super_read_only" in state.sql) is d.has_super_read_only
    table = "information_schema" if d.gtid_family == "mariadb" else "performance_schema"
    assert f"FROM {table}." in state.sql
    assert d.start_io_thread().sql.endswith("IO_THREAD")
    assert d.start_io_thread().sql.startswith("START ")
    assert HEARTBEAT_WRITE.count("%s") == 2
    for statement in (d.applier_threads(), d.kill_query(7)):
        assert statement.sql.count("%s") == len(statement.args)
        assert "%" not in statement.sql.replace("%s", "")
    assert d.kill_query(7).sql == "KILL QUERY %s"
    with pytest.raises(ValueError):
        d.kill_query(0)
