"""``FakeServer`` behaves as MariaDB does where the agent's tests rely on it."""

from __future__ import annotations

import pytest

from dualbeat.core.gtid import MariadbGtidSet
from dualbeat.errors import MysqlQueryError
from dualbeat.mysql import control
from dualbeat.mysql.dialect import Statement
from dualbeat.mysql.fake import FakeServer


def test_a_binlogged_write_takes_the_next_gtid_of_the_sessions_domain() -> None:
    db = FakeServer(server_id=7, gtid_domain_id=3, executed="3-7-4", read_only=False)
    control.record_epoch(db, 1, "db1", "{}")
    assert db.executed == MariadbGtidSet.parse("3-7-5")
    other = db.connect(db.endpoint)
    other.execute(Statement("SET SESSION gtid_domain_id = %s", (9,)))
    control.record_epoch(other, 2, "db1", "{}")
    assert db.executed == MariadbGtidSet.parse("3-7-5,9-7-1")
    other.close()  # a new session starts from the global domain again
    control.record_epoch(other, 3, "db1", "{}")
    assert db.executed == MariadbGtidSet.parse("3-7-6,9-7-1")


def test_read_only_refuses_writes_with_the_servers_error() -> None:
    db = FakeServer()
    with pytest.raises(MysqlQueryError) as raised:
        control.record_epoch(db, 1, "db1", "{}")
    assert raised.value.code == 1290


def test_an_unknown_statement_fails_loudly() -> None:
    with pytest.raises(MysqlQueryError, match="FakeServer does not know"):
        FakeServer().query(Statement("DROP DATABASE dualbeat"))


def test_only_mariadb_is_modelled() -> None:
    with pytest.raises(ValueError, match="MariaDB only"):
        FakeServer(version="8.0.36")


def test_the_epoch_read_back_is_the_highest_written() -> None:
    db = FakeServer(read_only=False)
    assert control.read_epoch(db) is None
    control.record_epoch(db, 6, "db1", "{}")
    assert control.read_epoch(db) == 6
    del db.tables["dualbeat.epoch"]
    assert control.read_epoch(db) is None  # the schema was never created
