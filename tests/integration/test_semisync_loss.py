"""Issue 13 item 17: the kill test must prove what semi-sync is for.

On a local bridge asynchronous replication loses nothing either, so a plain kill proves
nothing. Here the replication stream is held up first (the standby's I/O thread stopped),
then the active's mysqld is killed within the semi-sync timeout: with semi-sync the
writes the standby never received were never acknowledged (none lost); without it they
were, and are lost.
"""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import pytest

from dualbeat.mysql.connection import Server
from dualbeat.mysql.dialect import Statement
from dualbeat_lab import writer
from dualbeat_lab.sandbox import agents, faults
from dualbeat_lab.sandbox.drill import VIP_HOST, acked_after, present_seqs
from dualbeat_lab.sandbox.lab import LabInfo
from dualbeat_lab.sandbox.timeline import lost_writes
from tests.integration.labtools import wait_for

pytestmark = pytest.mark.integration


def _semisync_on(server: Server) -> bool:
    rows = server.query(Statement("SHOW GLOBAL STATUS LIKE 'Rpl_semi_sync_master_status'"))
    return bool(rows) and str(rows[0]["Value"]).upper() == "ON"


@pytest.mark.parametrize("semisync", [True, False], ids=["semisync", "async"])
def test_finding_17_kill_with_a_held_up_stream(
    pair: LabInfo, tmp_path: Path, semisync: bool
) -> None:
    old = agents.wait_settled(pair, lambda _m: None)
    assert old == "db1"
    log = tmp_path / "writes.jsonl"
    argv = writer.command(VIP_HOST, pair.secrets.app_password_file, log, 60.0)
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        wait_for(lambda: log.exists() and acked_after(log, 0.0), 15, "the writer")
        with Server(pair.node("db1").root_endpoint()) as db1:
            wait_for(lambda: _semisync_on(db1), 15, "semi-sync on the active")
            if not semisync:
                db1.execute(Statement("SET GLOBAL rpl_semi_sync_master_enabled = OFF"))
        with Server(pair.node("db2").root_endpoint()) as db2:
            db2.execute(Statement("STOP SLAVE IO_THREAD"))
        held = time.time()
        if not semisync:  # asynchronous: writes go on being acknowledged
            wait_for(lambda: acked_after(log, held), 5, "a write acknowledged")
        time.sleep(max(0.0, held + 0.4 - time.time()))  # well within the 1 s semi-sync wait
        fault_at = faults.kill_mysqld(pair.lab, "db1")
        wait_for(lambda: acked_after(log, fault_at), 30, "a write after the failover")
        new = wait_for(lambda: agents.settled(pair), 30, "a settled pair")
    finally:
        proc.terminate()
        proc.wait(10)
    assert new == "db2"
    writes = writer.load_log(log)
    lost = lost_writes(writes, present_seqs(pair, new))
    held_up = [w for w in writes if w.acked and held <= w.sent_at < fault_at]
    if semisync:
        assert lost == [], f"{len(lost)} acknowledged writes lost with semi-sync on"
    else:
        assert held_up and lost, "asynchronous replication lost nothing: the test proves nothing"
