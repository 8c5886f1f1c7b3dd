"""The dual-master rules, judged on hand-made snapshots (no server): one test per pitfall."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from dualbeat.config import SafetyWarning
from dualbeat.core.gtid import MariadbGtidSet, MysqlGtidSet
from dualbeat.mysql.dialect import ReplicaStatus, ServerVersion, ThreadState
from dualbeat.mysql.snapshot import ServerSnapshot
from dualbeat.repl.check import CheckResult, Pair, Status, check_pair, worst
from dualbeat.repl.setup import divergence

GOOD_VARS = {
    "log_bin": "ON",
    "log_slave_updates": "ON",
    "binlog_format": "ROW",
    "auto_increment_increment": "2",
    "sync_binlog": "1",
    "innodb_flush_log_at_trx_commit": "1",
    "relay_log_recovery": "ON",
    "slave_net_timeout": "10",
    "gtid_strict_mode": "ON",
    "skip_slave_start": "ON",
}
SEMI_ON = {
    "rpl_semi_sync_master_enabled": "ON",
    "rpl_semi_sync_slave_enabled": "ON",
    "rpl_semi_sync_master_status": "ON",
}


PAIR_CHECKS = {"server_id", "auto_increment", "gtid_domain_id", "writers"}


def replica(host: str, **changes: Any) -> ReplicaStatus:
    base = ReplicaStatus(
        source_host=host,
        source_port=3306,
        source_user="repl",
        io_state=ThreadState.RUNNING,
        sql_state=ThreadState.RUNNING,
        seconds_behind=0,
        last_io_errno=0,
        last_io_error="",
        last_sql_errno=0,
        last_sql_error="",
        retrieved_gtids="",
        executed_gtids="",
        auto_position=True,
        source_server_id=None,
        channel="",
    )
    return dataclasses.replace(base, **changes)


def snap(
    node: str,
    index: int,
    *,
    read_only: bool,
    executed: str = "1-1-10,2-2-3",
    variables: dict[str, str] | None = None,
    repl: ReplicaStatus | None = None,
    semisync: dict[str, str] | None = None,
) -> ServerSnapshot:
    peer = "10.0.0.12" if index == 1 else "10.0.0.11"
    return ServerSnapshot(
        node=node,
        version=ServerVersion.parse("10.11.6-MariaDB-0+deb12u1-log"),
        variables={
            **GOOD_VARS,
            "server_id": str(index),
            "gtid_domain_id": str(index),
            "auto_increment_offset": str(index),
            "read_only": "ON" if read_only else "OFF",
            **(variables or {}),
        },
        replica=repl if repl is not None else replica(peer),
        executed=MariadbGtidSet.parse(executed),
        semisync=SEMI_ON if semisync is None else semisync,
    )


def healthy_pair(**passive: Any) -> Pair:
    return Pair(
        active=snap("db1", 1, read_only=False),
        passive=snap("db2", 2, read_only=True, **passive),
        addresses={"db1": ("10.0.0.11", 3306), "db2": ("10.0.0.12", 3306)},
        max_lag=30,
    )


def by_check(findings: list[CheckResult], check: str, node: str | None = None) -> CheckResult:
    return next(f for f in findings if f.check == check and (node is None or f.node == node))


def test_healthy_pair_is_all_ok() -> None:
    findings = check_pair(healthy_pair())
    assert [f for f in findings if f.status is not Status.OK] == []
    assert worst(findings) is Status.OK


@pytest.mark.parametrize(
    ("variables", "check", "status"),
    [
        ({"server_id": "1"}, "server_id", Status.FAIL),
        ({"log_bin": "OFF"}, "log_bin", Status.FAIL),
        ({"log_slave_updates": "OFF"}, "log_slave_updates", Status.FAIL),
        ({"binlog_format": "MIXED"}, "binlog_format", Status.FAIL),
        ({"auto_increment_offset": "1"}, "auto_increment", Status.FAIL),
        ({"auto_increment_increment": "1"}, "auto_increment", Status.FAIL),
        ({"auto_increment_offset": "3"}, "auto_increment", Status.FAIL),  # 3 ≡ 1 (mod 2)
        ({"sync_binlog": "0"}, "sync_binlog", Status.WARN),
        ({"innodb_flush_log_at_trx_commit": "2"}, "innodb_flush_log_at_trx_commit", Status.WARN),
        ({"relay_log_recovery": "OFF"}, "relay_log_recovery", Status.WARN),
        ({"skip_slave_start": "OFF"}, "skip_slave_start", Status.FAIL),
        ({"skip_replica_start": "OFF"}, "skip_slave_start", Status.FAIL),
        ({"gtid_domain_id": "1"}, "gtid_domain_id", Status.WARN),
        ({"slave_net_timeout": "60"}, "slave_net_timeout", Status.WARN),
        ({"read_only": "OFF"}, "writers", Status.FAIL),
        ({"read_only": "OFF"}, "passive_read_only", Status.FAIL),
    ],
)
def test_each_bad_setting_is_reported(
    variables: dict[str, str], check: str, status: Status
) -> None:
    finding = by_check(
        check_pair(healthy_pair(variables=variables)),
        check,
        "db2" if check not in PAIR_CHECKS else None,
    )
    assert finding.status is status
    assert finding.hint, "every non-OK finding carries a hint"


def test_stopped_sql_thread_fails_with_server_error() -> None:
    repl = replica(
        "10.0.0.11",
        sql_state=ThreadState.STOPPED,
        seconds_behind=None,
        last_sql_errno=1062,
        last_sql_error="Duplicate entry '5' for key 'PRIMARY'",
    )
    findings = check_pair(healthy_pair(repl=repl))
    sql = by_check(findings, "sql_thread", "db2")
    assert sql.status is Status.FAIL
    assert "error 1062: Duplicate entry" in sql.detail
    assert by_check(findings, "io_thread", "db2").status is Status.OK
    assert not [f for f in findings if f.check == "lag" and f.node == "db2"]


def test_connecting_io_thread_fails() -> None:
    repl = replica(
        "10.0.0.11",
        io_state=ThreadState.CONNECTING,
        last_io_errno=2003,
        last_io_error="error connecting to master",
    )
    assert by_check(check_pair(healthy_pair(repl=repl)), "io_thread", "db2").status is Status.FAIL


def test_wrong_source_and_no_gtid() -> None:
    repl = replica("10.0.0.99", auto_position=False)
    findings = check_pair(healthy_pair(repl=repl))
    assert by_check(findings, "replication_source", "db2").status is Status.FAIL
    assert (
        "expected db1 at 10.0.0.11:3306" in by_check(findings, "replication_source", "db2").detail
    )
    assert by_check(findings, "gtid_auto_position", "db2").status is Status.FAIL


def test_missing_replication() -> None:
    pair = dataclasses.replace(
        healthy_pair(), passive=dataclasses.replace(healthy_pair().passive, replica=None)
    )
    assert by_check(check_pair(pair), "replication", "db2").status is Status.FAIL


def test_lag_over_budget_warns() -> None:
    findings = check_pair(healthy_pair(repl=replica("10.0.0.11", seconds_behind=45)))
    assert by_check(findings, "lag", "db2").status is Status.WARN


def test_errant_transaction_on_passive_fails_and_names_it() -> None:
    findings = check_pair(healthy_pair(executed="1-1-10,2-2-4"))
    errant = by_check(findings, "errant_transactions")
    assert errant.status is Status.FAIL
    assert errant.node == "db2"
    assert "1 transaction(s)" in errant.detail and "2-2-4..4" in errant.detail


def test_active_ahead_is_lag_not_errant() -> None:
    findings = check_pair(healthy_pair(executed="1-1-8,2-2-3"))
    assert by_check(findings, "errant_transactions").status is Status.OK


def test_no_writer_warns() -> None:
    pair = healthy_pair()
    pair = dataclasses.replace(
        pair,
        active=dataclasses.replace(
            pair.active, variables={**pair.active.variables, "read_only": "ON"}
        ),
    )
    assert by_check(check_pair(pair), "writers").status is Status.WARN


def test_semisync_off_warns() -> None:
    findings = check_pair(healthy_pair(semisync={"rpl_semi_sync_master_enabled": "OFF"}))
    assert by_check(findings, "semi_sync", "db2").status is Status.WARN  # does not ack
    assert by_check(findings, "semi_sync", "db1").status is Status.OK
    passive_acks_only = {"rpl_semi_sync_slave_enabled": "ON", "rpl_semi_sync_master_enabled": "OFF"}
    findings = check_pair(healthy_pair(semisync=passive_acks_only))
    assert by_check(findings, "semi_sync", "db2").status is Status.OK  # the agent's layout
    pair = healthy_pair()
    pair = dataclasses.replace(
        pair,
        active=dataclasses.replace(
            pair.active,
            semisync={"rpl_semi_sync_master_enabled": "ON", "rpl_semi_sync_master_status": "OFF"},
        ),
    )
    assert by_check(check_pair(pair), "semi_sync", "db1").status is Status.WARN  # fell back


def test_mysql_gtid_mode_and_super_read_only() -> None:
    uuid = "3e11fa47-71ca-11e1-9e33-c80aa9429562"

    def mysql(node: str, index: int, ro: bool, mode: str) -> ServerSnapshot:
        s = snap(node, index, read_only=ro)
        return dataclasses.replace(
            s,
            version=ServerVersion.parse("8.0.36"),
            executed=MysqlGtidSet.parse(f"{uuid}:1-5"),
            variables={
                **s.variables,
                "gtid_mode": mode,
                "enforce_gtid_consistency": "ON",
                "super_read_only": "OFF",
            },
        )

    pair = Pair(
        active=mysql("db1", 1, False, "ON"),
        passive=mysql("db2", 2, True, "OFF_PERMISSIVE"),
        addresses={},
        max_lag=30,
    )
    findings = check_pair(pair)
    assert by_check(findings, "gtid_mode", "db2").status is Status.FAIL
    assert by_check(findings, "gtid_mode", "db1").status is Status.OK
    assert by_check(findings, "passive_super_read_only", "db2").status is Status.WARN
    assert not [f for f in findings if f.check == "gtid_domain_id"]


def test_divergence_detection() -> None:
    a = snap("db1", 1, read_only=False, executed="1-1-10")
    assert divergence(a, snap("db2", 2, read_only=True, executed="1-1-7")) is None
    both = divergence(a, snap("db2", 2, read_only=True, executed="1-1-10,2-2-1"))
    assert both is None  # db2 only has more: replication brings it to db1
    diverged = divergence(
        snap("db1", 1, read_only=False, executed="1-1-10,3-1-2"),
        snap("db2", 2, read_only=True, executed="1-1-10,2-2-1"),
    )
    assert diverged is not None and "have diverged" in diverged
    empty = dataclasses.replace(a, executed=MariadbGtidSet(), user_schemas=("shop",))
    other = dataclasses.replace(empty, node="db2", user_schemas=("shop",))
    assert "no GTID accounts for" in (divergence(empty, other) or "")


def test_passive_ahead_of_the_actives_snapshot_is_not_errant() -> None:
    """The active wrote 1-1-11 between the two snapshots; the passive already applied it."""
    findings = check_pair(healthy_pair(executed="1-1-11,2-2-3"))
    assert by_check(findings, "errant_transactions").status is Status.OK


def test_two_writer_risks_of_the_config_are_warnings() -> None:
    risk = SafetyWarning("arbiter", "classic two-node mode: a partition", "add an [arbiter]")
    classic = check_pair(dataclasses.replace(healthy_pair(), safety=(risk,)))
    found = by_check(classic, "two_writers")
    assert (found.status, found.detail, found.hint) == (
        Status.WARN,
        "classic two-node mode: a partition",
        "add an [arbiter]",
    )
    assert by_check(
        check_pair(dataclasses.replace(healthy_pair(), safety=())), "two_writers"
    ).status is (Status.OK)
    assert not [f for f in check_pair(healthy_pair()) if f.check == "two_writers"]


def test_autostart_that_cannot_be_read_over_sql_is_a_reminder() -> None:
    pair = healthy_pair()
    hidden = {k: v for k, v in pair.passive.variables.items() if k != "skip_slave_start"}
    pair = dataclasses.replace(pair, passive=dataclasses.replace(pair.passive, variables=hidden))
    found = by_check(check_pair(pair), "skip_slave_start", "db2")
    assert found.status is Status.WARN and "my.cnf" in found.hint


def test_dualbeats_own_transactions_on_the_passive_are_not_errant() -> None:
    """Issue 12 item 1: an old active's epoch row, in its internal domain, is no reason to
    refuse a switchover or to fail the check."""
    pair = dataclasses.replace(
        healthy_pair(executed="1-1-10,2-2-3,9001-2-4"), internal_domains=frozenset({9000, 9001})
    )
    assert by_check(check_pair(pair), "errant_transactions").status is Status.OK
    unfiltered = dataclasses.replace(pair, internal_domains=frozenset())
    assert by_check(check_pair(unfiltered), "errant_transactions").status is Status.FAIL


def test_a_server_domain_that_is_dualbeats_own_fails() -> None:
    pair = dataclasses.replace(healthy_pair(), internal_domains=frozenset({2, 3}))
    assert by_check(check_pair(pair), "gtid_domain_id", "db2").status is Status.FAIL
