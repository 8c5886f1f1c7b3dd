"""``dualbeat rejoin NODE --analyze`` on a real pair: an old active returns holding writes.

The scene (``rejoin_scene``): db1 dies holding writes db2 lacks, db2 takes over and
changes the planted rows, db1 comes back FENCED. The analysis must list exactly the
writer rows db2 lacks, classify them ``safe``, and classify the planted changes as
conflicts.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from dualbeat.config import load
from dualbeat_lab.sandbox import drill, faults
from dualbeat_lab.sandbox.lab import LabInfo
from dualbeat_lab.sandbox.resync import sql
from tests.integration.labtools import wait_for
from tests.integration.rejoin_scene import (
    acked,
    attempted,
    old_active_returns,
    replicate_baseline,
)

pytestmark = pytest.mark.integration


def analyze(info: LabInfo, node: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["ip", "netns", "exec", "client", sys.executable, "-m", "dualbeat", "rejoin",
         node, "--analyze", "-c", str(info.config_path), *args],
        capture_output=True, text=True, timeout=180, check=False,
        env={**os.environ, "COLUMNS": "200"},
    )  # fmt: skip


def check_writer_rows(info: LabInfo, rows: list[dict[str, Any]], log: Path) -> None:
    writes = [r for r in rows if r["table"] == "app.writes"]
    assert writes and all(r["kind"] == "insert" for r in writes)
    assert {r["class"] for r in writes} == {"safe"}
    reported = {int(r["key"]["seq"]) for r in writes}
    on_db2 = drill.present_seqs(info, "db2")
    missing_acked = acked(log) - on_db2
    assert missing_acked, "the scene lost no acknowledged write: the test proves nothing"
    assert missing_acked <= reported
    assert reported <= attempted(log)  # acknowledged, or in flight when db1 died
    assert not reported & on_db2


def test_returning_old_active_is_analysed(pair: LabInfo, tmp_path: Path) -> None:
    info, log = pair, tmp_path / "writes.jsonl"
    replicate_baseline(info, tmp_path)
    old_active_returns(info, log)

    result = analyze(info, "db1", "--json")
    assert result.returncode == 1, result.stderr + result.stdout
    report = json.loads(result.stdout)
    assert report["node"] == "db1" and report["active"] == "db2"
    assert report["unread"] == "" and report["missing_count"] == len(report["transactions"])
    assert report["missing"].startswith("1-1-")  # db1's own domain only
    rows = [r for t in report["transactions"] for r in t["rows"]]
    check_writer_rows(info, rows, log)

    planted = {(r["kind"], r["key"]["id"]): r for r in rows if r["table"] == "app.planted"}
    update = planted[("update", 1)]
    assert update["class"] == "conflict_changed"
    assert (update["before"]["v"], update["after"]["v"]) == ("orig", "db1")
    assert update["active_row"]["v"] == "db2"
    taken = planted[("insert", 2)]
    assert taken["class"] == "conflict_key_taken" and taken["active_row"]["v"] == "db2"

    saved = sorted((load(info.config_path).state_dir("db1") / "rejoin").glob("*-analysis.json"))
    assert saved, "no report saved under db1's state directory"
    assert json.loads(saved[-1].read_text())["missing"] == report["missing"]
    assert saved[-1].stat().st_mode & 0o777 == 0o600

    shown = analyze(info, "db1")  # the screen rendering: the conflict is visible
    assert shown.returncode == 1, shown.stderr
    assert "conflict_changed" in shown.stdout and "app.planted" in shown.stdout, shown.stdout


def test_errant_writes_on_the_passive_are_analysed_the_same_way(pair: LabInfo) -> None:
    info = pair
    clean = analyze(info, "db2")
    assert clean.returncode == 0, clean.stderr + clean.stdout
    assert "db2 holds nothing of its own that db1 lacks" in clean.stdout
    sql(
        info,
        "db1",
        "CREATE TABLE app.t (id INT PRIMARY KEY, v VARCHAR(20)) ENGINE=InnoDB",
        "INSERT INTO app.t VALUES (1, 'a'), (2, 'b')",
    )
    wait_for(lambda: len(sql(info, "db2", "SELECT id FROM app.t")) == 2, 20, "db2 to replicate")
    # Keep the errant writes off db1: its agent would restart the ring.
    faults.kill_agent(info.lab, "db1")
    sql(info, "db1", "STOP SLAVE")
    sql(  # root passes read_only on MariaDB: a stray admin write on the passive
        info,
        "db2",
        "UPDATE app.t SET v = 'errant' WHERE id = 1",
        "DELETE FROM app.t WHERE id = 2",
    )
    sql(info, "db1", "UPDATE app.t SET v = 'moved on' WHERE id = 2")

    result = analyze(info, "db2", "--json")
    assert result.returncode == 1, result.stderr + result.stdout
    report = json.loads(result.stdout)
    assert report["missing"].startswith("2-2-") and report["missing_count"] == 2
    rows = [r for t in report["transactions"] for r in t["rows"]]
    assert [(r["kind"], r["key"], r["class"]) for r in rows] == [
        ("update", {"id": 1}, "safe"),
        ("delete", {"id": 2}, "conflict_changed"),
    ]
