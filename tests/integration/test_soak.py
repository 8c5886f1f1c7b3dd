"""The false-positive soak at small scale: a busy active, a long query, a lagging standby,
a backup lock, an fsync stall and read_only set by hand must not make the agents fail over
(``bench/soak.py`` runs it for 5 minutes). The disturbances run inside the 30 s of load:
they add no time to the test."""

from __future__ import annotations

import shutil

import pytest

from dualbeat_lab.sandbox import soak
from dualbeat_lab.sandbox.lab import LabInfo

pytestmark = pytest.mark.integration


def test_busy_disturbed_active_and_lagging_standby_cause_no_failover(pair: LabInfo) -> None:
    for tool in ("sysbench", "fio"):
        if shutil.which(tool) is None:
            pytest.fail(f"{tool} is missing: scripts/install-deps installs it")
    result = soak.run(
        pair, 30.0, lag_hold=5.0, big_rows=20_000, threads=2, baseline=3.0, stall_hold=3.0
    )
    assert result.sysbench_ok, result.sysbench_tail
    assert result.failovers == 0, result.events
    assert result.active == "db1"
    assert any("SQL thread stopped" in s for s in result.steps)
    assert any("SQL thread started" in s for s in result.steps)
    ran = {d.name: d for d in result.disturbances}
    assert list(ran) == ["backup_lock", "fsync_stall", "read_only_by_hand"]
    assert ran["backup_lock"].held_s >= 5.0
    assert ran["fsync_stall"].held_s >= 3.0
    assert "(the agent)" in ran["read_only_by_hand"].detail  # repaired by the agent, not us
    for node in ("db1", "db2"):  # the agents were watched the whole time
        for figures in (result.agents[node], result.agents_idle[node]):
            assert figures["cpu_percent_avg"] is not None
            assert figures["rss_mb"]["max"] > 0
