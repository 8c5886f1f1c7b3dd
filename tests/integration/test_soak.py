"""The false-positive soak at small scale: a busy active, a long query and a lagging
standby must not make the agents fail over (``bench/soak.py`` runs it for 5 minutes)."""

from __future__ import annotations

import shutil

import pytest

from dualbeat_lab.sandbox import soak
from dualbeat_lab.sandbox.lab import LabInfo

pytestmark = pytest.mark.integration


def test_busy_active_and_lagging_standby_cause_no_failover(pair: LabInfo) -> None:
    for tool in ("sysbench", "fio"):
        if shutil.which(tool) is None:
            pytest.fail(f"{tool} is missing: scripts/install-deps installs it")
    result = soak.run(pair, 30.0, lag_hold=5.0, big_rows=20_000, threads=2, baseline=3.0)
    assert result.sysbench_ok, result.sysbench_tail
    assert result.failovers == 0, result.events
    assert result.active == "db1"
    assert any("SQL thread stopped" in s for s in result.steps)
    assert any("SQL thread started" in s for s in result.steps)
    for node in ("db1", "db2"):  # the agents were watched the whole time
        for figures in (result.agents[node], result.agents_idle[node]):
            assert figures["cpu_percent_avg"] is not None
            assert figures["rss_mb"]["max"] > 0
