"""Dual-master replication on a real sandbox pair: setup, data flow, read-only, check.

The module builds the lab once with ``dualbeat sandbox up`` (which runs ``dualbeat repl
setup`` itself) and removes it at the end. Tests that break the pair repair it before
they finish, except the last, which leaves a diverged pair for ``down`` to remove.
"""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from dualbeat.config import Config
from dualbeat.errors import MysqlQueryError, RefusedError
from dualbeat.mysql.connection import Endpoint, Server
from dualbeat.mysql.dialect import Statement
from dualbeat.mysql.endpoints import endpoint
from dualbeat.repl.check import CheckResult, Status
from dualbeat.repl.inspect import inspect_pair
from dualbeat.repl.setup import setup_pair
from dualbeat_lab.sandbox import lab
from tests.integration.labtools import inside, wait_for

pytestmark = pytest.mark.integration
STATE = Path("/var/lib/dualbeat-sandbox")


def app(sandbox: lab.LabInfo, node: str) -> Server:
    n = sandbox.node(node)
    return Server(
        Endpoint(node, n.lan_address, n.mysql_port, "app", sandbox.secrets.password("app"))
    )


def admin(config: Config, node: str) -> Server:
    return Server(endpoint(config, node, admin=True))


def check(config: Config) -> dict[tuple[str, str], CheckResult]:
    with inside("client"):
        return {(f.check, f.node): f for f in inspect_pair(config)}


def rows(server: Server, marker: str) -> int:
    found = server.query(Statement("SELECT COUNT(*) AS n FROM app.t WHERE marker = %s", (marker,)))
    return int(found[0]["n"])


def test_row_written_on_active_appears_on_passive(sandbox: lab.LabInfo) -> None:
    marker = uuid.uuid4().hex
    with inside("client"), app(sandbox, "db1") as db1, app(sandbox, "db2") as db2:
        db1.execute(
            Statement(
                "CREATE TABLE IF NOT EXISTS app.t (id INT AUTO_INCREMENT PRIMARY KEY, "
                "marker VARCHAR(64))"
            ),
            Statement("INSERT INTO app.t (marker) VALUES (%s)", (marker,)),
        )
        wait_for(lambda: rows(db2, marker) == 1, 10, "the row to reach db2")
        # auto_increment offsets: the active hands out odd keys.
        ids = db1.query(Statement("SELECT id FROM app.t WHERE marker = %s", (marker,)))
        assert int(ids[0]["id"]) % 2 == 1


def test_passive_refuses_writes(sandbox: lab.LabInfo) -> None:
    with inside("client"), app(sandbox, "db2") as db2, pytest.raises(MysqlQueryError) as info:
        db2.execute(Statement("INSERT INTO app.t (marker) VALUES ('on-passive')"))
    assert info.value.code == 1290  # ER_OPTION_PREVENTS_STATEMENT: --read-only


def test_fresh_pair_checks_without_fail(config: Config) -> None:
    findings = check(config)
    fails = [f for f in findings.values() if f.status is Status.FAIL]
    assert fails == []
    assert findings[("errant_transactions", "db2")].status is Status.OK
    assert findings[("sql_thread", "db2")].status is Status.OK
    assert findings[("writers", "pair")].detail == "only db1 is writable"


def test_repl_check_cli_json_and_exit_code(sandbox: lab.LabInfo) -> None:
    result = subprocess.run(
        [
            "ip",
            "netns",
            "exec",
            "client",
            sys.executable,
            "-m",
            "dualbeat",
            "repl",
            "check",
            "--json",
            "-c",
            str(sandbox.config_path),
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    findings = json.loads(result.stdout)
    assert {"check", "node", "status", "detail", "hint"} <= set(findings[0])
    assert "FAIL" not in {f["status"] for f in findings}


def test_setup_again_changes_nothing(config: Config) -> None:
    with inside("client"):
        report = setup_pair(config)
    assert report.changes == []


def test_errant_transaction_fails_then_ok_after_repair(config: Config) -> None:
    with inside("client"), admin(config, "db1") as db1, admin(config, "db2") as db2:
        d = db1.dialect
        db1.execute(d.stop_replica())  # the active stops taking db2's changes...
        db2.execute(  # ...and something writes on the passive, bypassing read_only
            *d.set_read_only(False),
            Statement("INSERT INTO app.t (marker) VALUES ('errant')"),
            *d.set_read_only(True),
        )
        findings = check(config)
        errant = findings[("errant_transactions", "db2")]
        assert errant.status is Status.FAIL
        assert "1 transaction(s) on the passive that db1 lacks" in errant.detail
        db1.execute(d.start_replica())  # repair: the active takes the transaction
        wait_for(lambda: rows(db1, "errant") == 1, 10, "db1 to apply the errant row")
    findings = check(config)
    assert findings[("errant_transactions", "db2")].status is Status.OK
    assert findings[("io_thread", "db1")].status is Status.OK


def test_stopped_sql_thread_fails_then_ok_after_repair(config: Config) -> None:
    with inside("client"), admin(config, "db2") as db2:
        db2.execute(db2.dialect.stop_sql_thread())
        sql = check(config)[("sql_thread", "db2")]
        assert sql.status is Status.FAIL
        assert "SQL thread stopped" in sql.detail
        db2.execute(db2.dialect.start_replica())
    assert check(config)[("sql_thread", "db2")].status is Status.OK


def test_setup_refuses_diverged_servers(config: Config) -> None:
    with inside("client"), admin(config, "db1") as db1, admin(config, "db2") as db2:
        for server in (db1, db2):
            server.execute(server.dialect.stop_replica())
        db1.execute(Statement("INSERT INTO app.t (marker) VALUES ('only-db1')"))
        db2.execute(
            *db2.dialect.set_read_only(False),
            Statement("INSERT INTO app.t (marker) VALUES ('only-db2')"),
            *db2.dialect.set_read_only(True),
        )
        with pytest.raises(RefusedError, match="servers have diverged: db1 has 1 transaction"):
            setup_pair(config)
        assert db2.dialect.parse_replica_status(db2.query(db2.dialect.replica_status())) is not None
