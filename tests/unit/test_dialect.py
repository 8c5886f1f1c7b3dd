"""Dialect: version parsing, status parsing from recorded rows, and statement text per flavour."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pymysql.converters
import pytest

from dualbeat.errors import UsageError
from dualbeat.mysql.dialect import (
    BinlogStatus,
    Dialect,
    Flavor,
    ReplicaStatus,
    ServerVersion,
    Statement,
    ThreadState,
)

DATA = Path(__file__).parent / "data" / "dialect"
A_UUID = "3e11fa47-71ca-11e1-9e33-c80aa9429562"
B_UUID = "8c0e4f2a-5c1b-11ee-8a3d-0242ac120003"

MARIADB_10_11 = "10.11.6-MariaDB-0+deb12u1-log"
ALL_VERSIONS = [
    MARIADB_10_11,
    "10.6.12-MariaDB",
    "11.4.2-MariaDB",
    "5.7.7",
    "5.7.44-log",
    "8.0.21",
    "8.0.22",
    "8.0.23",
    "8.0.25",
    "8.0.26",
    "8.0.36",
    "8.2.0",
    "8.4.0",
    "9.1.0",
]


def dialect(version: str) -> Dialect:
    return Dialect.for_version(ServerVersion.parse(version))


def recorded(name: str) -> tuple[Dialect, list[dict[str, object]]]:
    """The dialect of the recorded server, and its rows as PyMySQL's DictCursor gave them."""
    document = json.loads((DATA / name).read_text())
    return dialect(document["server_version"]), document["rows"]


def render(statement: Statement) -> str:
    """The text PyMySQL sends: ``sql % escaped(args)``, as ``Cursor.mogrify`` does."""
    escaped = tuple(pymysql.converters.escape_item(arg, "utf8mb4") for arg in statement.args)
    return statement.sql % escaped


# --- versions -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "comment", "expected"),
    [
        (MARIADB_10_11, "", (Flavor.MARIADB, 10, 11, 6)),
        ("5.5.5-10.6.12-MariaDB", "", (Flavor.MARIADB, 10, 6, 12)),
        ("5.5.5-10.11.6-MariaDB-log", "mariadb.org binary", (Flavor.MARIADB, 10, 11, 6)),
        ("11.4.2-MariaDB-ubu2404", "", (Flavor.MARIADB, 11, 4, 2)),
        ("10.11.6", "MariaDB Server", (Flavor.MARIADB, 10, 11, 6)),
        ("8.0.36", "MySQL Community Server - GPL", (Flavor.MYSQL, 8, 0, 36)),
        ("8.0.36-28", "Percona Server (GPL), Release 28", (Flavor.MYSQL, 8, 0, 36)),
        ("5.7.44-log", "", (Flavor.MYSQL, 5, 7, 44)),
        ("8.4.0", "", (Flavor.MYSQL, 8, 4, 0)),
        ("9.1.0", "", (Flavor.MYSQL, 9, 1, 0)),
        ("  8.0.36-0ubuntu0.22.04.1\n", "(Ubuntu)", (Flavor.MYSQL, 8, 0, 36)),
    ],
)
def test_parse_version(raw: str, comment: str, expected: tuple[Flavor, int, int, int]) -> None:
    v = ServerVersion.parse(raw, comment)
    assert (v.flavor, v.major, v.minor, v.patch) == expected
    assert v.raw == raw.strip()


@pytest.mark.parametrize(
    ("raw", "named"),
    [
        ("10.5.23-MariaDB", "MariaDB 10.5.23"),
        ("5.5.5-10.4.32-MariaDB-log", "MariaDB 10.4.32"),
        ("5.5.68-MariaDB", "MariaDB 5.5.68"),
        ("5.6.51-log", "MySQL 5.6.51"),
        ("5.1.73", "MySQL 5.1.73"),
    ],
)
def test_unsupported_version_names_it_and_what_is_supported(raw: str, named: str) -> None:
    with pytest.raises(UsageError) as caught:
        ServerVersion.parse(raw)
    message = str(caught.value)
    assert named in message
    assert raw in message
    assert "MariaDB 10.6 or later" in message
    assert "MySQL 5.7, 8.0, 8.4 or later" in message
    assert caught.value.exit_code == 2


@pytest.mark.parametrize("raw", ["", "banana", "MariaDB", "v8.0"])
def test_unreadable_version_is_a_usage_error(raw: str) -> None:
    with pytest.raises(UsageError, match="cannot read the server version"):
        ServerVersion.parse(raw)


def test_version_helpers() -> None:
    v = ServerVersion.parse("8.0.26")
    assert v.at_least(8) and v.at_least(8, 0, 26) and not v.at_least(8, 0, 27)
    assert str(v) == "MySQL 8.0.26"
    assert str(ServerVersion.parse("5.5.5-10.6.12-MariaDB")) == "MariaDB 10.6.12"


@pytest.mark.parametrize(
    ("raw", "family", "super_read_only"),
    [
        (MARIADB_10_11, "mariadb", False),
        ("5.7.7", "mysql", False),
        ("5.7.8", "mysql", True),
        ("8.0.36", "mysql", True),
        ("8.4.0", "mysql", True),
    ],
)
def test_dialect_traits(raw: str, family: str, super_read_only: bool) -> None:
    d = dialect(raw)
    assert d.gtid_family == family
    assert d.has_super_read_only is super_read_only
    assert d.version.raw == raw


# --- replica status -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "sql"),
    [
        (MARIADB_10_11, "SHOW SLAVE STATUS"),
        ("5.7.44-log", "SHOW SLAVE STATUS"),
        ("8.0.21", "SHOW SLAVE STATUS"),
        ("8.0.22", "SHOW REPLICA STATUS"),
        ("8.4.0", "SHOW REPLICA STATUS"),
    ],
)
def test_replica_status_statement(raw: str, sql: str) -> None:
    assert dialect(raw).replica_status() == Statement(sql)


def test_statement_matches_recording() -> None:
    for path in sorted(DATA.glob("*.json")):
        document = json.loads(path.read_text())
        d = dialect(document["server_version"])
        statement = document["statement"]
        if "MASTER STATUS" in statement or "BINARY LOG" in statement:
            assert d.binlog_status().sql == statement, path.name
        elif "ALL SLAVES" not in statement:
            assert d.replica_status().sql == statement, path.name


def test_mariadb_10_11_running_replica() -> None:
    d, rows = recorded("mariadb-10.11-show-slave-status.json")
    assert d.parse_replica_status(rows) == ReplicaStatus(
        source_host="10.0.0.11",
        source_port=3306,
        source_user="repl",
        io_state=ThreadState.RUNNING,
        sql_state=ThreadState.RUNNING,
        seconds_behind=0,
        last_io_errno=0,
        last_io_error="",
        last_sql_errno=0,
        last_sql_error="",
        retrieved_gtids="1-1-2042,2-2-315",
        executed_gtids="",
        auto_position=True,
        source_server_id=1,
        channel="",
        io_state_text="Waiting for master to send event",
        sql_state_text="Slave has read all relay log; waiting for more updates",
    )


def test_mariadb_io_thread_stopped_on_purged_binlogs() -> None:
    d, rows = recorded("mariadb-10.11-show-slave-status-io-error.json")
    status = d.parse_replica_status(rows)
    assert status is not None
    assert status.io_state is ThreadState.STOPPED
    assert status.sql_state is ThreadState.RUNNING
    assert status.seconds_behind is None
    assert status.last_io_errno == 1236
    assert "required binlog files have been purged" in status.last_io_error
    assert status.last_sql_errno == 0
    assert not status.running and status.has_error


def test_mariadb_all_slaves_status_connecting_with_wrong_password() -> None:
    d, rows = recorded("mariadb-10.11-show-all-slaves-status.json")
    status = d.parse_replica_status(rows)
    assert status is not None
    assert status.channel == ""
    assert status.io_state is ThreadState.CONNECTING
    assert status.last_io_errno == 1045
    assert "Access denied" in status.last_io_error
    assert status.source_server_id is None  # never connected: the server reports 0
    assert status.seconds_behind is None
    assert status.executed_gtids == ""  # Gtid_Slave_Pos is read as a variable instead
    assert d.parse_replica_status(rows, channel="other") is None


def test_mysql_5_7_running_replica() -> None:
    d, rows = recorded("mysql-5.7-show-slave-status.json")
    assert d.parse_replica_status(rows) == ReplicaStatus(
        source_host="10.0.0.11",
        source_port=3306,
        source_user="repl",
        io_state=ThreadState.RUNNING,
        sql_state=ThreadState.RUNNING,
        seconds_behind=0,
        last_io_errno=0,
        last_io_error="",
        last_sql_errno=0,
        last_sql_error="",
        retrieved_gtids=f"{A_UUID}:1-1280",
        executed_gtids=f"{A_UUID}:1-1280,{B_UUID}:1-57",
        auto_position=True,
        source_server_id=1,
        channel="",
        io_state_text="Waiting for master to send event",
        sql_state_text="Slave has read all relay log; waiting for more updates",
    )


def test_mysql_8_0_replica_with_source_names() -> None:
    d, rows = recorded("mysql-8.0-show-replica-status.json")
    status = d.parse_replica_status(rows)
    assert status is not None
    assert (status.source_host, status.source_port) == ("10.0.0.11", 3306)
    assert status.source_user == "repl"
    assert status.running and not status.has_error
    assert status.seconds_behind == 3
    assert status.retrieved_gtids == f"{A_UUID}:1-1290"
    assert status.executed_gtids == f"{A_UUID}:1-1287,{B_UUID}:1-57"
    assert status.auto_position is True
    assert status.source_server_id == 1
    assert status.io_state_text == "Waiting for source to send event"


def test_mysql_8_0_applier_stopped_on_duplicate_key() -> None:
    d, rows = recorded("mysql-8.0-show-replica-status-sql-error.json")
    status = d.parse_replica_status(rows)
    assert status is not None
    assert status.io_state is ThreadState.RUNNING
    assert status.sql_state is ThreadState.STOPPED
    assert status.seconds_behind is None
    assert status.last_sql_errno == 1062
    assert f"'{A_UUID}:1281'" in status.last_sql_error
    assert status.last_io_errno == 0 and status.last_io_error == ""
    assert not status.running and status.has_error


def test_mysql_8_4_replica() -> None:
    d, rows = recorded("mysql-8.4-show-replica-status.json")
    status = d.parse_replica_status(rows)
    assert status is not None
    assert status.running
    assert status.seconds_behind == 0
    assert status.executed_gtids == f"{A_UUID}:1-1290,{B_UUID}:1-57"


@pytest.mark.parametrize("raw", [MARIADB_10_11, "5.7.44", "8.0.36", "8.4.0"])
def test_no_replica_configured(raw: str) -> None:
    assert dialect(raw).parse_replica_status([]) is None


@pytest.mark.parametrize(
    "name",
    [
        "mariadb-10.11-show-slave-status.json",
        "mysql-5.7-show-slave-status.json",
        "mysql-8.4-show-replica-status.json",
    ],
)
def test_numbers_as_strings_and_odd_case_normalise_the_same(name: str) -> None:
    """Other drivers and proxies return every value as text; the result must not change."""
    d, rows = recorded(name)
    as_text: list[dict[str, object]] = [
        {key.upper(): (None if value is None else str(value)) for key, value in row.items()}
        for row in rows
    ]
    assert d.parse_replica_status(as_text) == d.parse_replica_status(rows)


def test_mariadb_preparing_and_current_pos() -> None:
    d, rows = recorded("mariadb-10.11-show-slave-status.json")
    row = {**rows[0], "Slave_IO_Running": "Preparing", "Using_Gtid": "Current_Pos"}
    status = d.parse_replica_status([row])
    assert status is not None
    assert status.io_state is ThreadState.CONNECTING
    assert status.auto_position is True
    no_gtid = d.parse_replica_status([{**rows[0], "Using_Gtid": "No"}])
    assert no_gtid is not None and no_gtid.auto_position is False


def test_mysql_channels_pick_the_default_one() -> None:
    d, rows = recorded("mysql-8.4-show-replica-status.json")
    other = {**rows[0], "Channel_Name": "reporting", "Source_Host": "10.9.9.9"}
    status = d.parse_replica_status([other, rows[0]])
    assert status is not None and status.source_host == "10.0.0.11"
    named = d.parse_replica_status([other, rows[0]], channel="reporting")
    assert named is not None and named.source_host == "10.9.9.9" and named.channel == "reporting"


def test_unknown_thread_state_is_an_error() -> None:
    d, rows = recorded("mysql-8.4-show-replica-status.json")
    with pytest.raises(ValueError, match="Maybe"):
        d.parse_replica_status([{**rows[0], "Replica_IO_Running": "Maybe"}])


# --- binlog status ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "sql"),
    [
        (MARIADB_10_11, "SHOW MASTER STATUS"),
        ("5.7.44", "SHOW MASTER STATUS"),
        ("8.0.36", "SHOW MASTER STATUS"),
        ("8.2.0", "SHOW BINARY LOG STATUS"),
        ("8.4.0", "SHOW BINARY LOG STATUS"),
        ("9.1.0", "SHOW BINARY LOG STATUS"),
    ],
)
def test_binlog_status_statement(raw: str, sql: str) -> None:
    assert dialect(raw).binlog_status() == Statement(sql)


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("mariadb-10.11-show-master-status.json", BinlogStatus("mariadb-bin.000004", 91873, "")),
        (
            "mysql-5.7-show-master-status.json",
            BinlogStatus("mysql-bin.000009", 154, f"{A_UUID}:1-1280,{B_UUID}:1-57"),
        ),
        (
            "mysql-8.0-show-master-status.json",
            BinlogStatus("mysql-bin.000007", 197, f"{A_UUID}:1-1287,{B_UUID}:1-57"),
        ),
        (
            "mysql-8.4-show-binary-log-status.json",
            BinlogStatus("binlog.000003", 158, f"{A_UUID}:1-1290,{B_UUID}:1-57"),
        ),
    ],
)
def test_parse_binlog_status(name: str, expected: BinlogStatus) -> None:
    d, rows = recorded(name)
    assert d.parse_binlog_status(rows) == expected


def test_binlog_disabled() -> None:
    assert dialect("8.4.0").parse_binlog_status([]) is None


# --- change source ------------------------------------------------------------------------

PASSWORD = "s3cr'et%s\\pw"


def change(raw: str) -> Statement:
    return dialect(raw).change_source(
        "10.0.0.11", 3306, "repl", PASSWORD, connect_retry=10, heartbeat_period=1.5
    )


@pytest.mark.parametrize(
    ("raw", "present", "absent"),
    [
        (
            MARIADB_10_11,
            ["CHANGE MASTER TO", "MASTER_HOST = %s", "MASTER_PASSWORD = %s",
             "MASTER_USE_GTID = slave_pos", "MASTER_CONNECT_RETRY = %s",
             "MASTER_HEARTBEAT_PERIOD = %s"],
            ["AUTO_POSITION", "PUBLIC_KEY", "SOURCE"],
        ),
        (
            "5.7.44-log",
            ["CHANGE MASTER TO", "MASTER_HOST = %s", "MASTER_AUTO_POSITION = 1",
             "MASTER_HEARTBEAT_PERIOD = %s"],
            ["PUBLIC_KEY", "USE_GTID", "SOURCE"],
        ),
        (
            "8.0.22",
            ["CHANGE MASTER TO", "MASTER_AUTO_POSITION = 1", "GET_MASTER_PUBLIC_KEY = 1"],
            ["USE_GTID", "SOURCE"],
        ),
        (
            "8.0.23",
            ["CHANGE REPLICATION SOURCE TO", "SOURCE_HOST = %s", "SOURCE_PORT = %s",
             "SOURCE_USER = %s", "SOURCE_PASSWORD = %s", "SOURCE_AUTO_POSITION = 1",
             "SOURCE_CONNECT_RETRY = %s", "SOURCE_HEARTBEAT_PERIOD = %s",
             "GET_SOURCE_PUBLIC_KEY = 1"],
            ["MASTER", "USE_GTID"],
        ),
        (
            "8.4.0",
            ["CHANGE REPLICATION SOURCE TO", "SOURCE_AUTO_POSITION = 1",
             "GET_SOURCE_PUBLIC_KEY = 1"],
            ["MASTER"],
        ),
    ],
)  # fmt: skip
def test_change_source_per_flavour(raw: str, present: list[str], absent: list[str]) -> None:
    statement = change(raw)
    for keyword in present:
        assert keyword in statement.sql
    for keyword in absent:
        assert keyword not in statement.sql
    assert statement.sql.count("%s") == len(statement.args) == 6
    assert statement.args == ("10.0.0.11", 3306, "repl", PASSWORD, 10, Decimal("1.500"))


@pytest.mark.parametrize("raw", ALL_VERSIONS)
def test_password_only_in_args_and_escaped(raw: str) -> None:
    statement = change(raw)
    assert PASSWORD not in statement.sql and "s3cr" not in statement.sql
    assert PASSWORD in statement.args
    assert "s3cr" not in repr(statement)  # safe to log
    text = render(statement)
    assert "'s3cr\\'et%s\\\\pw'" in text  # one quoted, escaped literal
    assert "'10.0.0.11'" in text and " 3306" in text and "= 1.500" in text


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"host": ""}, "host"),
        ({"host": "a\nb"}, "host"),
        ({"port": 0}, "port"),
        ({"port": 70000}, "port"),
        ({"port": True}, "port"),
        ({"user": ""}, "user"),
        ({"connect_retry": 0}, "connect_retry"),
        ({"heartbeat_period": -1.0}, "heartbeat_period"),
        ({"heartbeat_period": float("nan")}, "heartbeat_period"),
        ({"heartbeat_period": 5_000_000.0}, "heartbeat_period"),
    ],
)
def test_change_source_rejects_bad_input(kwargs: dict[str, Any], match: str) -> None:
    arguments: dict[str, Any] = {
        "host": "10.0.0.11",
        "port": 3306,
        "user": "repl",
        "password": "pw",
        "connect_retry": 10,
        "heartbeat_period": 1.0,
    }
    arguments.update(kwargs)
    with pytest.raises(ValueError, match=match):
        dialect("8.4.0").change_source(**arguments)


@pytest.mark.parametrize(
    ("raw", "start", "stop", "reset", "start_sql", "stop_sql", "stop_io"),
    [
        (MARIADB_10_11, "START SLAVE", "STOP SLAVE", "RESET SLAVE ALL",
         "START SLAVE SQL_THREAD", "STOP SLAVE SQL_THREAD", "STOP SLAVE IO_THREAD"),
        ("5.7.44", "START SLAVE", "STOP SLAVE", "RESET SLAVE ALL",
         "START SLAVE SQL_THREAD", "STOP SLAVE SQL_THREAD", "STOP SLAVE IO_THREAD"),
        ("8.4.0", "START REPLICA", "STOP REPLICA", "RESET REPLICA ALL",
         "START REPLICA SQL_THREAD", "STOP REPLICA SQL_THREAD", "STOP REPLICA IO_THREAD"),
    ],
)  # fmt: skip
def test_thread_control(
    raw: str, start: str, stop: str, reset: str, start_sql: str, stop_sql: str, stop_io: str
) -> None:
    d = dialect(raw)
    assert d.start_replica().sql == start
    assert d.stop_replica().sql == stop
    assert d.reset_replica_all().sql == reset
    assert d.start_sql_thread().sql == start_sql
    assert d.stop_sql_thread().sql == stop_sql
    assert d.stop_io_thread().sql == stop_io


# --- read-only ----------------------------------------------------------------------------


def sets(statements: list[Statement]) -> list[str]:
    return [render(s) for s in statements]


def test_read_only_mariadb() -> None:
    d = dialect(MARIADB_10_11)
    assert sets(d.set_read_only(True)) == ["SET GLOBAL read_only = 'ON'"]
    assert sets(d.set_read_only(False)) == ["SET GLOBAL read_only = 'OFF'"]
    assert d.read_only_variables() == ("read_only",)


@pytest.mark.parametrize("raw", ["5.7.44", "8.0.36", "8.4.0"])
def test_read_only_mysql_uses_super_read_only(raw: str) -> None:
    d = dialect(raw)
    assert sets(d.set_read_only(True)) == ["SET GLOBAL super_read_only = 'ON'"]
    assert sets(d.set_read_only(False)) == [
        "SET GLOBAL super_read_only = 'OFF'",
        "SET GLOBAL read_only = 'OFF'",
    ]
    assert d.read_only_variables() == ("read_only", "super_read_only")


def test_read_only_mysql_before_super_read_only() -> None:
    d = dialect("5.7.7")
    assert sets(d.set_read_only(True)) == ["SET GLOBAL read_only = 'ON'"]
    assert d.read_only_variables() == ("read_only",)


# --- semi-sync ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "source", "replica", "wait_point", "status"),
    [
        (MARIADB_10_11, "rpl_semi_sync_master_enabled", "rpl_semi_sync_slave_enabled",
         "rpl_semi_sync_master_wait_point", "Rpl_semi_sync_master_status"),
        ("5.7.44", "rpl_semi_sync_master_enabled", "rpl_semi_sync_slave_enabled",
         "rpl_semi_sync_master_wait_point", "Rpl_semi_sync_master_status"),
        ("8.0.25", "rpl_semi_sync_master_enabled", "rpl_semi_sync_slave_enabled",
         "rpl_semi_sync_master_wait_point", "Rpl_semi_sync_master_status"),
        ("8.0.26", "rpl_semi_sync_source_enabled", "rpl_semi_sync_replica_enabled",
         "rpl_semi_sync_source_wait_point", "Rpl_semi_sync_source_status"),
        ("8.4.0", "rpl_semi_sync_source_enabled", "rpl_semi_sync_replica_enabled",
         "rpl_semi_sync_source_wait_point", "Rpl_semi_sync_source_status"),
    ],
)  # fmt: skip
def test_semisync_names(raw: str, source: str, replica: str, wait_point: str, status: str) -> None:
    d = dialect(raw)
    assert d.semisync_source_enabled_var == source
    assert d.semisync_replica_enabled_var == replica
    assert d.semisync_wait_point_var == wait_point
    assert d.semisync_source_status_var == status


def test_enable_semisync_mariadb_is_built_in() -> None:
    d = dialect(MARIADB_10_11)
    assert d.semisync_plugins(True, True) == ()
    assert sets(d.enable_semisync(True, True, timeout_ms=1000)) == [
        "SET GLOBAL rpl_semi_sync_master_wait_point = 'AFTER_SYNC'",
        "SET GLOBAL rpl_semi_sync_master_timeout = 1000",
        "SET GLOBAL rpl_semi_sync_master_enabled = 'ON'",
        "SET GLOBAL rpl_semi_sync_slave_enabled = 'ON'",
    ]


def test_enable_semisync_mysql_installs_missing_plugins() -> None:
    d = dialect("8.4.0")
    assert sets(d.enable_semisync(True, True, installed={"rpl_semi_sync_replica"})) == [
        "INSTALL PLUGIN rpl_semi_sync_source SONAME 'semisync_source.so'",
        "SET GLOBAL rpl_semi_sync_source_wait_point = 'AFTER_SYNC'",
        "SET GLOBAL rpl_semi_sync_source_enabled = 'ON'",
        "SET GLOBAL rpl_semi_sync_replica_enabled = 'ON'",
    ]
    old = dialect("5.7.44")
    assert old.semisync_plugins(True, True) == (
        ("rpl_semi_sync_master", "semisync_master.so"),
        ("rpl_semi_sync_slave", "semisync_slave.so"),
    )
    assert sets(old.enable_semisync(False, True)) == [
        "INSTALL PLUGIN rpl_semi_sync_slave SONAME 'semisync_slave.so'",
        "SET GLOBAL rpl_semi_sync_slave_enabled = 'ON'",
    ]
    query = d.installed_plugins([name for name, _ in d.semisync_plugins(True, True)])
    assert "information_schema.PLUGINS" in query.sql
    assert query.args == ("rpl_semi_sync_source", "rpl_semi_sync_replica")


def test_disable_semisync() -> None:
    assert sets(dialect("8.0.36").disable_semisync(True, False)) == [
        "SET GLOBAL rpl_semi_sync_source_enabled = 'OFF'"
    ]


# --- variables, waits, sessions -----------------------------------------------------------


def test_gtid_variables() -> None:
    maria, mysql = dialect(MARIADB_10_11), dialect("8.4.0")
    assert maria.executed_gtids_var() == "gtid_current_pos"
    assert mysql.executed_gtids_var() == "gtid_executed"
    assert {"gtid_domain_id", "gtid_strict_mode", "gtid_binlog_pos", "gtid_slave_pos"} <= set(
        maria.gtid_variables()
    )
    assert {"gtid_mode", "enforce_gtid_consistency", "gtid_executed", "gtid_purged"} <= set(
        mysql.gtid_variables()
    )
    assert "log_replica_updates" in mysql.gtid_variables()
    assert "log_slave_updates" in dialect("5.7.44").gtid_variables()


def test_global_variables_and_status_use_placeholders() -> None:
    d = dialect("8.4.0")
    variables = d.global_variables(["read_only", "gtid_mode"])
    assert variables == Statement(
        "SHOW GLOBAL VARIABLES WHERE Variable_name IN (%s, %s)", ("read_only", "gtid_mode")
    )
    status = d.global_status(["Rpl_semi_sync_source_status"])
    assert render(status) == (
        "SHOW GLOBAL STATUS WHERE Variable_name IN ('Rpl_semi_sync_source_status')"
    )
    with pytest.raises(ValueError):
        d.global_variables([])
    rows: list[dict[str, object]] = [
        {"Variable_name": "read_only", "Value": "ON"},
        {"Variable_name": "gtid_mode", "Value": "ON"},
    ]
    assert d.parse_variables(rows) == {"read_only": "ON", "gtid_mode": "ON"}


@pytest.mark.parametrize(
    "name",
    [
        "read_only = 0; DROP TABLE mysql.user; --",
        "read_only=0",
        "`read_only`",
        "Read_Only",
        "read only",
        "",
        "x" * 65,
    ],
)
def test_set_global_rejects_non_identifiers(name: str) -> None:
    with pytest.raises(ValueError, match="not a system variable name"):
        dialect("8.4.0").set_global(name, 1)


def test_set_global_value_is_an_argument() -> None:
    statement = dialect(MARIADB_10_11).set_global("gtid_slave_pos", "1-1-5'; DROP TABLE t; --")
    assert statement.sql == "SET GLOBAL gtid_slave_pos = %s"
    assert render(statement) == "SET GLOBAL gtid_slave_pos = '1-1-5\\'; DROP TABLE t; --'"


@pytest.mark.parametrize(
    ("raw", "function"),
    [(MARIADB_10_11, "MASTER_GTID_WAIT"), ("5.7.44", "WAIT_FOR_EXECUTED_GTID_SET")],
)
def test_wait_for_gtids(raw: str, function: str) -> None:
    d = dialect(raw)
    statement = d.wait_for_gtids("1-1-5", 2.5)
    assert statement == Statement(f"SELECT {function}(%s, %s) AS result", ("1-1-5", Decimal("2.5")))
    assert render(statement).endswith("('1-1-5', 2.500) AS result")
    with pytest.raises(ValueError):
        d.wait_for_gtids("1-1-5", -1)


@pytest.mark.parametrize(
    ("rows", "reached"),
    [([{"result": 0}], True), ([{"result": 1}], False), ([{"result": -1}], False),
     ([{"result": "0"}], True), ([{"result": None}], False), ([], False)],
)  # fmt: skip
def test_wait_succeeded(rows: list[dict[str, object]], reached: bool) -> None:
    assert Dialect.wait_succeeded(rows) is reached


def test_sessions() -> None:
    d = dialect("8.4.0")
    listing = d.list_client_sessions().sql
    assert "information_schema.PROCESSLIST" in listing
    for column in ("ID", "USER", "HOST", "COMMAND"):
        assert column in listing
    assert render(d.kill(42)) == "KILL CONNECTION 42"
    for bad in (0, -3, True, "42; DROP TABLE t"):
        with pytest.raises(ValueError):
            d.kill(bad)  # type: ignore[arg-type]


def every_statement(d: Dialect) -> list[Statement]:
    return [
        d.replica_status(),
        d.binlog_status(),
        d.change_source("h", 1, "u", "p%s%%", connect_retry=1, heartbeat_period=0),
        d.start_replica(),
        d.stop_replica(),
        d.reset_replica_all(),
        d.start_sql_thread(),
        d.stop_sql_thread(),
        d.stop_io_thread(),
        *d.set_read_only(True),
        *d.set_read_only(False),
        *d.enable_semisync(True, True, timeout_ms=500),
        *d.disable_semisync(True, True),
        d.installed_plugins(["rpl_semi_sync_source"]),
        d.global_variables([*d.gtid_variables(), *d.read_only_variables()]),
        d.global_status([d.semisync_source_status_var, d.semisync_replica_status_var]),
        d.set_global("read_only", "ON"),
        d.wait_for_gtids("", 0),
        d.list_client_sessions(),
        d.kill(7),
    ]


@pytest.mark.parametrize("raw", ALL_VERSIONS)
def test_every_statement_renders_through_pymysql(raw: str) -> None:
    """PyMySQL always applies ``sql % args``: a stray ``%`` or a miscount would fail here."""
    for statement in every_statement(dialect(raw)):
        assert statement.sql.count("%s") == len(statement.args), statement.sql
        render(statement)


def test_internal_writes_set_the_sessions_domain_on_mariadb_only() -> None:
    [stmt] = dialect(MARIADB_10_11).internal_writes(9000)
    assert (stmt.sql, stmt.args) == ("SET SESSION gtid_domain_id = %s", (9000,))
    assert dialect("8.4.0").internal_writes(9000) == []
    with pytest.raises(ValueError, match="GTID domain"):
        dialect(MARIADB_10_11).internal_writes(2**32)
