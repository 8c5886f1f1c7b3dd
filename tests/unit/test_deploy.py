"""The files in deploy/ are checked by the tools that will read them.

Why here and not by eye: a unit with a misspelt directive still starts (systemd ignores it
with a warning), and an alert rule on a metric name the agent does not export never fires.
So ``systemd-analyze verify`` must print nothing, ``promtool`` checks and unit-tests the
rules, and every ``dualbeat_*`` name in the rules and the dashboard is one the agent's
``/metrics`` really serves. The tools come from Debian (``scripts/install-deps``).
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from prometheus_client import generate_latest

from dualbeat.agent.status import AgentStatus
from dualbeat.api.metrics import AgentMetrics
from tests.unit.test_api import STATUS

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
UNIT = DEPLOY / "dualbeat.service"
RULES = DEPLOY / "prometheus" / "dualbeat-alerts.yml"
DASHBOARD = DEPLOY / "grafana" / "dualbeat-dashboard.json"


def tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.fail(f"{name} is missing: run scripts/install-deps")
    return path


def verify(unit: Path) -> str:
    """``systemd-analyze verify`` of the unit as installed, with /usr/bin/dualbeat replaced by
    this checkout's command (verify insists the executable exists). Returns what it printed:
    systemd ignores unknown keys and bad values with a warning and exit code 0."""
    text = unit.read_text().replace(
        "/usr/bin/dualbeat", str(Path(sys.executable).parent / "dualbeat")
    )
    copy = unit.parent / "copy" / unit.name
    copy.parent.mkdir(exist_ok=True)
    copy.write_text(text)
    proc = subprocess.run(
        [tool("systemd-analyze"), "verify", "--man=no", str(copy)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    return f"exit {proc.returncode}\n{proc.stdout}{proc.stderr}".strip()


def test_the_unit_verifies_without_a_warning(tmp_path: Path) -> None:
    unit = tmp_path / "dualbeat.service"
    shutil.copy(UNIT, unit)
    assert verify(unit) == "exit 0"


def test_verify_would_catch_a_misspelt_directive(tmp_path: Path) -> None:
    unit = tmp_path / "dualbeat.service"
    unit.write_text(UNIT.read_text().replace("ProtectSystem=strict", "ProtectSystm=strict"))
    assert "Unknown key" in verify(unit)


def test_the_unit_runs_the_packaged_command_with_bounded_capabilities() -> None:
    text = UNIT.read_text()
    assert "/usr/local" not in text
    lines = [line for line in text.splitlines() if line and not line.startswith("#")]
    settings = dict(line.split("=", 1) for line in lines if "=" in line)
    assert settings["ExecStart"].startswith("/usr/bin/dualbeat agent")
    assert settings["CapabilityBoundingSet"].split() == ["CAP_NET_ADMIN", "CAP_NET_RAW"]
    assert settings["ProtectSystem"] == "strict"
    assert settings["StateDirectory"] == "dualbeat"


def test_alert_rules_pass_promtool(tmp_path: Path) -> None:
    promtool = tool("promtool")
    for args in (["check", "rules", RULES.name], ["test", "rules", "dualbeat-alerts.test.yml"]):
        proc = subprocess.run(
            [promtool, *args],
            cwd=RULES.parent,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert proc.returncode == 0, proc.stdout + proc.stderr


def exported_names() -> set[str]:
    """Every sample name the agent's /metrics serves (with _total, _bucket, ... suffixes)."""
    metrics = AgentMetrics(lambda: AgentStatus.from_json(STATUS))
    metrics.observe({"code": "PROMOTED", "evidence": {"finding": "peer_dead", "total_s": 1.0}})
    text = generate_latest(metrics.registry).decode()
    return {re.split(r"[{ ]", line, maxsplit=1)[0] for line in text.splitlines() if line[:1] != "#"}


def used_names(text: str) -> set[str]:
    return set(re.findall(r"\bdualbeat_[a-z_]+\b", text))


def test_rules_and_dashboard_use_only_exported_metrics() -> None:
    exported = exported_names()
    rules, dashboard = RULES.read_text(), DASHBOARD.read_text()
    assert used_names(rules) <= exported
    assert "dualbeat_failovers_total" in used_names(rules)
    queries = "\n".join(re.findall(r'"(?:expr|query)": "([^"]*)"', dashboard))
    assert used_names(queries) <= exported
    assert len(used_names(queries)) >= 10


def test_the_dashboard_is_importable_json() -> None:
    dash = json.loads(DASHBOARD.read_text())
    ids = [panel["id"] for panel in dash["panels"]]
    assert len(ids) == len(set(ids))
    assert dash["__inputs"][0]["name"] == "DS_PROMETHEUS"
    for panel in dash["panels"]:
        assert panel["targets"], panel["title"]
        assert panel["datasource"]["uid"] == "${DS_PROMETHEUS}"
