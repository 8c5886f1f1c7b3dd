"""Rejoin on real data (issue 12 items 4 and 5): 200 MB in ``app.big`` (more than the
servers' 64 MB buffer pool and every buffer of the copy), a node fenced three times over
holding lost writes, and each method (flashback with ``--reapply``, backup and dump with
``--discard``) killed with SIGKILL at each of its steps and run again until it completes:
every rerun continues from where the kill left it, and the pair ends equal (the accept
step's checksum) and replicating both ways."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest

from dualbeat.config import load
from dualbeat_lab.sandbox import resync
from dualbeat_lab.sandbox.lab import LabInfo

pytestmark = pytest.mark.integration

LOST_ROWS = 300


def record(info: LabInfo, node: str, mode: str) -> dict[str, Any]:
    rejoin_dir = load(info.config_path).state_dir(node) / "rejoin"
    found = sorted(rejoin_dir.glob(f"*-{mode}.json"), key=lambda p: p.stat().st_mtime)
    assert found, f"no {mode} record saved"
    data: dict[str, Any] = json.loads(found[-1].read_text())
    assert not (rejoin_dir / "in-progress.json").exists(), "the journal outlived the rejoin"
    return data


def killed_then_resumed(
    info: LabInfo, node: str, args: tuple[str, ...], kills: list[tuple[str, float]]
) -> str:
    """Run the rejoin, killing it at each (line, delay) in turn, then to completion;
    every rerun after the first resumes. A kill that lands later than its line (the
    backup's stop, swap and journal write take microseconds) can leave nothing for the
    next kill point: that rerun completes. Returns the completing run's output."""
    done = None
    for i, (line, delay) in enumerate(kills):
        run = resync.rejoin(info, node, *(args if i == 0 else args[:1]), kill_at=line,
                            kill_after=delay)  # fmt: skip
        if run.code == 0 and i > 0:
            done = run
            break
        assert run.code is None, f"not killed at {line!r}:\n{run.output}"
    done = done or resync.rejoin(info, node, args[0])
    assert done.code == 0, done.output
    assert "resuming the interrupted" in done.output, done.output
    assert "checksum:" in done.output and "rows equal on both servers" in done.output
    return done.output


def lost_rows(info: LabInfo, node: str, tag: str) -> int:
    return int(resync.sql(info, node, f"SELECT COUNT(*) AS n FROM app.lost_{tag}")[0]["n"])


def settled_both_ways(info: LabInfo) -> None:
    resync.wait(lambda: resync.replicating_both_ways(info), 30, "replication both ways")


def test_200_mb_rejoins_by_each_method_resume_after_a_kill_at_every_step(pair: LabInfo) -> None:
    info = pair
    started = time.monotonic()
    resync.fill(info, 200)
    size = int(resync.sql(info, "db1", "SELECT COUNT(*) AS n FROM app.big")[0]["n"])
    assert size * resync.ROW_BYTES >= 200 * 10**6

    # 1. flashback, --reapply: killed while re-applying on the active, while reverting,
    # after the GTID history restart (a kill later races the journal's removal).
    fenced, active = resync.lose_writes(info, LOST_ROWS, "r1")
    out = killed_then_resumed(
        info, fenced, ("--reapply", "--method", "flashback"),
        [("re-applied", 0.0), ("reverting", 0.0), ("rebuilt at", 0.0)],
    )  # fmt: skip
    done = record(info, fenced, "reapply")
    assert done["method"]["method"] == "flashback", out
    assert lost_rows(info, active, "r1") == LOST_ROWS  # re-applied, each once
    assert resync.sql(info, active, "SELECT v FROM app.lost_r1 WHERE id = 1") == [{"v": "x"}]
    settled_both_ways(info)
    resync.wait(lambda: lost_rows(info, fenced, "r1") == LOST_ROWS, 30, "re-applied rows back")

    # 2. backup, --discard (now the other way round): killed while the backup runs, once
    # the server is stopped, once the datadir is swapped (server still stopped).
    fenced, active = resync.lose_writes(info, LOST_ROWS, "r2")
    out = killed_then_resumed(
        info, fenced, ("--discard", "--method", "backup"),
        [("backing up", 0.3), ("server_stop_command: done", 0.0), ("now holds", 0.0)],
    )  # fmt: skip
    done = record(info, fenced, "discard")
    assert done["method"]["method"] == "backup" and done["position"], out
    assert "started" in out or "starting" in out, out  # the rerun started the stopped server
    assert lost_rows(info, fenced, "r2") == lost_rows(info, active, "r2") == 0
    datadir = Path(str(resync.sql(info, fenced, "SELECT @@datadir AS d")[0]["d"]))
    assert not datadir.with_name(f"{datadir.name}.dualbeat-old").exists()
    settled_both_ways(info)

    # 3. dump, --discard: killed in the middle of the copy, after the history restart.
    fenced, active = resync.lose_writes(info, LOST_ROWS, "r3")
    out = killed_then_resumed(
        info, fenced, ("--discard", "--method", "dump"),
        [("copying", 1.0), ("rebuilt at", 0.0)],
    )  # fmt: skip
    done = record(info, fenced, "discard")
    assert done["method"]["method"] == "dump" and done["copy"]["bytes"] > 200 * 10**6, out
    assert lost_rows(info, fenced, "r3") == lost_rows(info, active, "r3") == 0
    settled_both_ways(info)
    print(f"\n200 MB, three methods, nine kills: {time.monotonic() - started:.0f} s")
