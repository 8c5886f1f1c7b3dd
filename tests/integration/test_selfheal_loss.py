"""Issue 12 item 8: a node stays fenced only for a real loss, and ``[rejoin] auto =
"safe"`` re-applies the safe ones.

The scene (``rejoin_scene``): semi-sync off and db2's SQL thread stopped, so db1's newest
acknowledged writes are on db1 alone; kill -9 of db1's mysqld under the writer; db2 takes
over (a stopped SQL thread is not waited for: the held-back writes are lost to it); db1's
mysqld restarts holding them.

- With a conflict (db2 changed the planted rows since): db1 is fenced and stays fenced,
  with the lost-writes report; the automatic run refuses (``REJOIN_AUTO_FAILED``) and
  re-applies nothing: a conflict never resolves itself.
- Without one: every lost transaction is ``safe``; db1's agent re-applies them on db2,
  resyncs db1 from it, and db1 stands by again with no operator; no acknowledged write
  is missing on db2.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from dualbeat.config import load
from dualbeat.rejoin.analysis import report_dir
from dualbeat_lab.sandbox import agents, drill, faults, lab
from dualbeat_lab.sandbox.lab import LabInfo
from dualbeat_lab.sandbox.provision import provision
from tests.integration.conftest import STATE, require_integration
from tests.integration.in_doubt import codes
from tests.integration.labtools import wait_for
from tests.integration.rejoin_scene import acked, old_active_returns, replicate_baseline, role

pytestmark = pytest.mark.integration


@pytest.fixture
def safe_pair() -> Iterator[LabInfo]:
    """A fresh pair whose agents run with ``[rejoin] auto = "safe"``."""
    require_integration()
    lab.down(STATE)
    say = lambda msg: print(msg, file=sys.stderr)  # noqa: E731
    info = provision(STATE, say, with_agents=False)
    text = info.config_path.read_text()  # the lab's [rejoin] has the backup commands
    assert "\n[rejoin]\n" in text
    info.config_path.write_text(text.replace("\n[rejoin]\n", '\n[rejoin]\nauto = "safe"\n'))
    agents.start_all(info, say)
    yield info
    faults.heal_all(info.lab)
    lab.down(STATE)


def test_a_conflict_keeps_the_node_fenced_with_its_report(
    safe_pair: LabInfo, tmp_path: Path
) -> None:
    info, log = safe_pair, tmp_path / "writes.jsonl"
    replicate_baseline(info, tmp_path)
    old_active_returns(info, log, conflict=True)
    wait_for(lambda: "REJOIN_AUTO_FAILED" in codes(info, "db1"), 90, "the automatic run")
    assert role(info, "db1") == "fenced"
    assert "REJOIN_AUTO" not in codes(info, "db1")
    reports = list(report_dir(load(info.config_path), "db1").glob("*.json"))
    assert reports, "no lost-writes report"
    lost = acked(log) - drill.present_seqs(info, "db2")
    assert lost, "nothing was lost: the scene proves nothing"


def test_safe_lost_writes_are_reapplied_and_the_node_stands_by(
    safe_pair: LabInfo, tmp_path: Path
) -> None:
    info, log = safe_pair, tmp_path / "writes.jsonl"
    replicate_baseline(info, tmp_path)
    old_active_returns(info, log, conflict=False, expect_fenced=False)
    try:
        wait_for(lambda: role(info, "db1") == "standby", 180, "db1 standing by again")
    except AssertionError as exc:
        raise AssertionError(f"{exc}; db1's codes: {codes(info, 'db1')[-15:]}") from None
    seen = codes(info, "db1")
    assert "REJOIN_AUTO_RESOLVED" in seen and "REJOIN_AUTO" in seen, seen
    assert {"HOLDS_ERRANT", "PEER_NEWER_EPOCH"} & set(seen), "db1 was never fenced"
    assert acked(log) <= drill.present_seqs(info, "db2"), "an acknowledged write is missing"
    wait_for(lambda: agents.settled(info, standby=True) == "db2", 60, "the pair settled")
