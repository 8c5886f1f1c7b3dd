"""``dualbeat rejoin NODE --reapply`` and ``--discard`` on a real pair: each ends with two
identical servers (checksum) replicating both ways, NODE a standby again, and a saved copy
of whatever was discarded. The scene is ``rejoin_scene``'s: db1 returns fenced, holding
acknowledged writer rows (safe) and planted changes (conflicts) that db2 lacks."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from dualbeat.config import load
from dualbeat_lab.sandbox import agents, drill
from dualbeat_lab.sandbox.lab import LabInfo
from dualbeat_lab.sandbox.resync import sql
from tests.integration.labtools import wait_for
from tests.integration.rejoin_scene import (
    acked,
    old_active_returns,
    records,
    replicate_baseline,
    role,
    run_writer,
)

pytestmark = pytest.mark.integration


def rejoin(info: LabInfo, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    """``dualbeat rejoin db1 ARGS`` where db1's agent runs."""
    return subprocess.run(
        ["ip", "netns", "exec", "db1", sys.executable, "-m", "dualbeat", "rejoin", "db1",
         *args, "-c", str(info.config_path)],
        capture_output=True, text=True, timeout=timeout, check=False,
    )  # fmt: skip


def scene(info: LabInfo, tmp_path: Path) -> tuple[Path, set[int]]:
    """The scene; returns the writer's log and the acknowledged rows db2 lacks."""
    log = tmp_path / "writes.jsonl"
    replicate_baseline(info, tmp_path)
    old_active_returns(info, log)
    lost = acked(log) - drill.present_seqs(info, "db2")
    assert lost, "the scene lost no acknowledged write: the test proves nothing"
    return log, lost


def record(info: LabInfo, mode: str) -> dict[str, Any]:
    found = sorted((load(info.config_path).state_dir("db1") / "rejoin").glob(f"*-{mode}.json"))
    assert found, f"no {mode} record saved"
    data: dict[str, Any] = json.loads(found[-1].read_text())
    return data


def replicating_both_ways(info: LabInfo) -> None:
    assert role(info, "db1") == "standby" and agents.settled(info, standby=True) == "db2"
    for node in ("db1", "db2"):
        status = sql(info, node, "SHOW SLAVE STATUS")[0]
        running = (status["Slave_IO_Running"], status["Slave_SQL_Running"])
        assert running == ("Yes", "Yes"), f"{node}: {running} {status['Last_Error']}"
    sql(info, "db2", "CREATE TABLE app.after_rejoin (id INT PRIMARY KEY)")
    sql(info, "db2", "INSERT INTO app.after_rejoin VALUES (1)")
    wait_for(
        lambda: sql(info, "db1", "SELECT id FROM app.after_rejoin") == [{"id": 1}],
        20,
        "a write on the active to reach the rejoined node",
    )


def writer_rows(info: LabInfo, node: str) -> set[tuple[int, float]]:
    rows = sql(info, node, "SELECT seq, sent_at FROM app.writes")
    return {(int(r["seq"]), float(r["sent_at"])) for r in rows}


def planted(info: LabInfo, node: str) -> list[dict[str, Any]]:
    return sql(info, node, "SELECT id, v FROM app.planted ORDER BY id")


def saved_copy_holds(info: LabInfo, saved: list[str], gtids: list[str]) -> None:
    """The saved binary logs are real binary logs holding the discarded transactions."""
    assert saved and all(Path(p).stat().st_size > 0 for p in saved)
    text = subprocess.run(
        ["mariadb-binlog", *saved], capture_output=True, text=True, check=True
    ).stdout
    for gtid in gtids:
        assert f"GTID {gtid}" in text, f"{gtid} is not in the saved binary logs"


def test_reapply_puts_the_safe_writes_on_the_active(pair: LabInfo, tmp_path: Path) -> None:
    info = pair
    log, lost = scene(info, tmp_path)

    result = rejoin(info, "--reapply")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "is a standby again" in result.stdout and "checksum:" in result.stdout

    on_db2 = drill.present_seqs(info, "db2")
    assert lost <= on_db2, f"lost writes not re-applied: {lost - on_db2}"
    assert acked(log) <= on_db2, f"acknowledged writes missing: {acked(log) - on_db2}"
    assert drill.present_seqs(info, "db1") == on_db2
    # The conflicting planted changes were not included: the active's version stays.
    assert (
        planted(info, "db1")
        == planted(info, "db2")
        == [
            {"id": 1, "v": "db2"},
            {"id": 2, "v": "db2"},
        ]
    )
    done = record(info, "reapply")
    assert done["applied"] and all(a["new_gtid"].startswith("2-2-") for a in done["applied"])
    skipped = done["plan"]["skipped"]
    assert all("conflict" in s["why"] for s in skipped), skipped
    lost_txns = json.loads(Path(done["analysis"]).read_text())["transactions"]
    planted_txns = {t["gtid"] for t in lost_txns if "app.planted" in t["tables"]}
    assert len(planted_txns) == 2 and planted_txns <= {s["gtid"] for s in skipped}
    # Every all-safe transaction was re-applied (writer rows may conflict too: after the
    # failover the writer reuses the seq numbers db2 has free).
    safe = {t["gtid"] for t in lost_txns if t["classes"] == ["safe"]}
    assert safe and safe == {a["gtid"] for a in done["applied"]}
    saved_copy_holds(info, done["saved_binlogs"], [s["gtid"] for s in skipped])
    replicating_both_ways(info)


def test_discard_rebuilds_the_node_from_the_active(pair: LabInfo, tmp_path: Path) -> None:
    info = pair
    log, lost = scene(info, tmp_path)
    lost_rows = {(w.seq, w.sent_at) for w in records(log) if w.seq in lost}

    # The active keeps taking writes while the node is rebuilt: its GTID position moves on
    # between the copy and the channel's restart, as it does on a live system.
    busy = run_writer(info, tmp_path / "during.jsonl", 120)
    try:
        result = rejoin(info, "--discard", "--method", "dump")
    finally:
        busy.terminate()
        busy.wait(10)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "rebuilt from db2" in result.stdout and "checksum:" in result.stdout
    assert acked(tmp_path / "during.jsonl"), "no write reached the active during the rebuild"

    wait_for(
        lambda: writer_rows(info, "db1") == writer_rows(info, "db2"),
        20,
        "db1 to replicate the writes taken during the rebuild",
    )
    # The writer reuses free seq numbers, so a discarded row is known by its sent_at too.
    assert not writer_rows(info, "db1") & lost_rows, "a discarded write is still on db1"
    assert planted(info, "db1") == planted(info, "db2")
    done = record(info, "discard")
    assert done["copy"]["position"] and "app" in done["copy"]["databases"]
    analysis = json.loads(Path(done["analysis"]).read_text())
    saved_copy_holds(info, done["saved_binlogs"], [t["gtid"] for t in analysis["transactions"]])
    replicating_both_ways(info)


def test_a_second_rejoin_of_the_node_is_refused_while_one_runs(
    pair: LabInfo, tmp_path: Path
) -> None:
    """Two rejoins of one node at once (an operator's beside the agent's automatic one, or
    two operators) would each stop, copy over and reposition the same server, the second
    dropping databases under the first's load. The second is refused before it changes
    anything, and the first, held just after its analysis, then completes."""
    info = pair
    scene(info, tmp_path)
    first = subprocess.Popen(
        ["ip", "netns", "exec", "db1", sys.executable, "-m", "dualbeat", "rejoin", "db1",
         "--reapply", "-c", str(info.config_path)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True,
    )  # fmt: skip
    assert first.stdout is not None
    seen: list[str] = []
    try:
        for line in first.stdout:  # held once its analysis is saved, before any change
            seen.append(line)
            if "analysis:" in line:
                os.killpg(first.pid, signal.SIGSTOP)
                break
        else:
            raise AssertionError("the first rejoin ended before its analysis:\n" + "".join(seen))
        try:
            second = rejoin(info, "--reapply", timeout=120)
        except subprocess.TimeoutExpired:
            second = None
        assert second is not None, "the second rejoin did not end: it waited on the first"
        assert second.returncode == 4, second.stdout + second.stderr
        assert "another rejoin of db1" in second.stderr, second.stderr
    finally:
        os.killpg(first.pid, signal.SIGCONT)
    rest, _ = first.communicate(timeout=300)
    assert first.returncode == 0, "".join(seen) + rest
    replicating_both_ways(info)
