"""The scene of the rejoin tests: an old active returns holding writes the new active lacks.

db1 active under a writer through the VIP, db2's SQL thread stopped and semi-sync off (so
db1's newest commits really are on db1 alone), a planted row that the new active will
change, kill -9 of db1's mysqld, db2 takes over, db1 comes back FENCED.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

from dualbeat_lab import writer
from dualbeat_lab.sandbox import agents, drill, faults, lab
from dualbeat_lab.sandbox.lab import LabInfo
from dualbeat_lab.sandbox.resync import sql
from tests.integration.conftest import STATE
from tests.integration.labtools import wait_for

VIP = "10.77.0.100"


def run_writer(info: LabInfo, log: Path, duration: float) -> subprocess.Popen[bytes]:
    argv = writer.command(
        VIP, info.secrets.app_password_file, log, duration, profile=writer.Profile.TEST_BOUNDS
    )
    return subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def records(log: Path) -> list[writer.WriteRecord]:
    return writer.load_log(log) if log.exists() else []


def acked(log: Path) -> set[int]:
    return {w.seq for w in records(log) if w.acked}


def attempted(log: Path) -> set[int]:
    return {w.seq for w in records(log)}


def role(info: LabInfo, node: str) -> str | None:
    status = agents.status(info, node)
    return None if status is None else str(status["role"])


def replicate_baseline(info: LabInfo, tmp_path: Path) -> None:
    """The writer's table (a moment of writes) and a planted row, both on db2 too."""
    warmup = tmp_path / "warmup.jsonl"
    run_writer(info, warmup, 1.5).wait(30)
    assert acked(warmup), "the writer acknowledged nothing through the VIP"
    sql(
        info,
        "db1",
        "CREATE TABLE app.planted (id INT PRIMARY KEY, v VARCHAR(20)) ENGINE=InnoDB",
        "INSERT INTO app.planted VALUES (1, 'orig')",
    )
    wait_for(
        lambda: (
            sql(info, "db2", "SELECT v FROM app.planted WHERE id = 1")
            and drill.present_seqs(info, "db2") >= acked(warmup)
        ),
        20,
        "db2 to replicate the planted row and the warm-up writes",
    )


def old_active_returns(
    info: LabInfo, log: Path, *, conflict: bool = True, expect_fenced: bool = True
) -> None:
    """db1 writes alone, dies, db2 takes over and (``conflict``) changes the planted rows,
    db1 returns (``expect_fenced``: and is seen fenced)."""
    for node in ("db1", "db2"):  # db1's commits must not wait for db2, nor reach its tables
        sql(
            info,
            node,
            "SET GLOBAL rpl_semi_sync_master_enabled = OFF",
            "SET GLOBAL rpl_semi_sync_slave_enabled = OFF",
        )
    sql(info, "db2", "STOP SLAVE SQL_THREAD")
    proc = run_writer(info, log, 60)
    try:
        wait_for(lambda: len(acked(log)) >= 50, 20, "50 acknowledged writes on db1")
        sql(
            info,
            "db1",
            "UPDATE app.planted SET v = 'db1' WHERE id = 1",
            "INSERT INTO app.planted VALUES (2, 'db1')",
        )
        after_plant = len(acked(log))  # a few more writer rows after the planted ones
        wait_for(lambda: len(acked(log)) >= after_plant + 10, 10, "writes after the plant")
        assert role(info, "db2") == "standby"
        sql_state = sql(info, "db2", "SHOW SLAVE STATUS")[0]["Slave_SQL_Running"]
        assert sql_state == "No", "something restarted db2's SQL thread"
        faults.kill_mysqld(info.lab, "db1")
        wait_for(lambda: agents.settled(info) == "db2", 30, "db2 to become active")
        wait_for(
            lambda: any(w.acked and w.server_id == 2 for w in records(log)),
            20,
            "a write acknowledged by db2",
        )
    finally:
        proc.terminate()
        proc.wait(10)
    if conflict:
        sql(  # the new active changes the planted rows: the lost changes now conflict
            info,
            "db2",
            "UPDATE app.planted SET v = 'db2' WHERE id = 1",
            "INSERT INTO app.planted VALUES (2, 'db2')",
        )
    lab.up(STATE)  # restarts the killed mariadbd only
    if expect_fenced:
        wait_for(lambda: role(info, "db1") == "fenced", 30, "db1 to come back fenced")
