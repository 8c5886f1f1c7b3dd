"""The history store: durable appends, torn tails, filters, rotation, records from outside."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import cast

import pytest

from dualbeat.agent import history, statefile
from dualbeat.agent.history import History
from dualbeat.core.durable import Durable, TakeoverRecord
from dualbeat.core.reasons import ReasonCode
from dualbeat.core.roles import Finding, Role
from dualbeat.core.state import Decision, NodeState, Reason


def write(tmp_path: Path, *codes: str, ts: float | None = None) -> None:
    h = History(tmp_path, "db1")
    for n, code in enumerate(codes):
        reason = Reason(cast(ReasonCode, code), f"{code} text")  # the store keeps any code as text
        h.append(history.event("db1", reason, role="standby", epoch=n, ts=ts))
    h.close()


def codes(tmp_path: Path, **kwargs: float | int | None) -> list[str]:
    return [e["code"] for e in history.read(tmp_path, **kwargs).events]  # type: ignore[arg-type]


def test_records_read_back_in_order_with_every_field(tmp_path: Path) -> None:
    write(tmp_path, "STARTED", "PEER_HEARD", "PROMOTED")
    events = history.read(tmp_path).events
    assert [e["code"] for e in events] == ["STARTED", "PEER_HEARD", "PROMOTED"]
    assert [e["kind"] for e in events] == ["agent", "decision", "takeover"]
    first = events[0]
    assert set(first) >= {"ts", "node", "role", "epoch", "code", "kind", "text", "evidence"}
    assert first["node"] == "db1" and first["text"] == "STARTED text"
    json.dumps(events)  # JSON-safe as they are


def test_a_torn_last_line_is_skipped_then_cut_off_at_the_next_open(tmp_path: Path) -> None:
    write(tmp_path, "ONE", "TWO")
    path = tmp_path / history.FILENAME
    with path.open("ab") as f:
        f.write(b'{"ts": 1, "code": "TO')  # a crash in the middle of a write
    found = history.read(tmp_path)
    assert [e["code"] for e in found.events] == ["ONE", "TWO"] and found.damaged == 1
    write(tmp_path, "THREE")  # opening repairs: the new record is a line of its own
    found = history.read(tmp_path)
    assert [e["code"] for e in found.events] == ["ONE", "TWO", "THREE"] and found.damaged == 0
    assert path.read_bytes().endswith(b"\n")


def test_repair_of_a_file_that_is_one_torn_line(tmp_path: Path) -> None:
    path = tmp_path / history.FILENAME
    path.write_bytes(b"x" * 10000)
    assert history.repair(path) == 10000 and path.read_bytes() == b""
    assert history.repair(tmp_path / "absent.jsonl") == 0


def test_a_damaged_line_in_the_middle_is_counted_not_fatal(tmp_path: Path) -> None:
    write(tmp_path, "ONE")
    with (tmp_path / history.FILENAME).open("a") as f:
        f.write("not json\n[1, 2]\n")
    write(tmp_path, "TWO")
    found = history.read(tmp_path)
    assert [e["code"] for e in found.events] == ["ONE", "TWO"] and found.damaged == 2


def test_since_and_limit(tmp_path: Path) -> None:
    write(tmp_path, "OLD", ts=1000.0)
    write(tmp_path, "NEW1", "NEW2", "NEW3", ts=2000.0)
    assert codes(tmp_path, since=1500.0) == ["NEW1", "NEW2", "NEW3"]
    assert codes(tmp_path, limit=2) == ["NEW2", "NEW3"]
    assert codes(tmp_path, since=1000.0, limit=10) == ["OLD", "NEW1", "NEW2", "NEW3"]
    assert codes(tmp_path, limit=0) == []
    assert codes(tmp_path / "nothing-here") == []


def test_lines_read_backwards_across_chunk_boundaries(tmp_path: Path) -> None:
    path = tmp_path / "lines"
    lines = [b"x" * n for n in (0, 1, 6, 7, 8, 15, 3)]
    path.write_bytes(b"\n".join(lines) + b"\n")
    for chunk in (1, 2, 7, 8, 1024):
        got = list(history._reverse_lines(path, chunk))
        assert got == [b"", *reversed(lines)], chunk


def test_since_stops_at_older_records_but_tolerates_a_clock_step(tmp_path: Path) -> None:
    with (tmp_path / history.FILENAME).open("w") as f:
        f.write("damaged line far in the past\n")
    write(tmp_path, "OLD", ts=1000.0)
    write(tmp_path, "NEW", ts=2000.0)
    write(tmp_path, "STEPPED_BACK", ts=1990.0)  # the wall clock was set back 10 s
    found = history.read(tmp_path, since=1995.0)
    assert [e["code"] for e in found.events] == ["NEW"]
    assert found.damaged == 0  # it stopped at OLD and never read the damaged line
    assert codes(tmp_path, since=1985.0) == ["NEW", "STEPPED_BACK"]  # file order


def test_rotation_keeps_one_generation_and_reads_across_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(history, "MAX_BYTES", 600)
    write(tmp_path, *(f"E{n}" for n in range(12)))
    assert (tmp_path / history.ROTATED).exists()
    got = codes(tmp_path)
    assert got == sorted(got, key=lambda c: int(c[1:]))  # in order across the two files
    assert got[-1] == "E11"
    assert (tmp_path / history.FILENAME).stat().st_size < 600


def test_a_promotion_carries_its_takeover_record(tmp_path: Path) -> None:
    takeover = TakeoverRecord(3, 1.0, "db2", "db1", "peer_dead", "1-1-9", "1-1-9", "1-1-9", "")
    durable = Durable(epoch=3, last_role=Role.ACTIVE, last_takeover=takeover, maintenance=True)
    state = NodeState(role=Role.ACTIVE, durable=durable, finding=Finding.PEER_PASSIVE)
    h = History(tmp_path, "db2")
    written = h.decisions(
        Decision(state, reasons=(Reason(ReasonCode.PROMOTED, "active", {"apply_s": 0.1}),))
    )
    h.close()
    assert written[0]["evidence"]["takeover"]["old_active"] == "db1"
    assert written[0]["evidence"]["apply_s"] == 0.1
    assert written[0]["epoch"] == 3 and written[0]["maintenance"] is True
    assert written[0]["finding"] == "peer_passive"
    assert history.read(tmp_path).events == written


def test_another_process_records_with_role_and_epoch_from_the_state_file(tmp_path: Path) -> None:
    statefile.save(tmp_path, Durable(epoch=5, last_role=Role.FENCED))
    rec = history.record(
        tmp_path, "db1", Reason(ReasonCode.REJOIN_REPORT, "report", {"report": "/x"})
    )
    assert rec["role"] == "fenced" and rec["epoch"] == 5 and rec["kind"] == "rejoin"
    assert codes(tmp_path) == ["REJOIN_REPORT"]


WRITER = """
import sys, time
from pathlib import Path
from dualbeat.agent import history
from dualbeat.core.state import Reason
h = history.History(Path(sys.argv[1]), "db1")
n = 0
while True:
    n += 1
    h.append(history.event("db1", Reason("E", str(n), {"pad": "x" * 3000}), role="active",
                           epoch=n))
    if n == 50:
        print("ready", flush=True)
"""


def test_a_writer_killed_with_sigkill_leaves_every_record_it_wrote_readable(
    tmp_path: Path,
) -> None:
    env = os.environ | {"PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    proc = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(tmp_path)], stdout=subprocess.PIPE, env=env
    )
    assert proc.stdout is not None and proc.stdout.readline() == b"ready\n"
    time.sleep(0.05)  # mid-run: it keeps appending until the kill
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(10)
    found = history.read(tmp_path)
    texts = [int(e["text"]) for e in found.events]
    assert texts == list(range(1, len(texts) + 1)) and len(texts) >= 50
    assert found.damaged <= 1  # at most the line being written at the kill
    write(tmp_path, "AFTER")
    assert codes(tmp_path)[-1] == "AFTER" and history.read(tmp_path).damaged == 0
