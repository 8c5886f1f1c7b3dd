"""Hook scripts: run with DUALBEAT_* variables, bounded by the timeout, failures reported."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from dualbeat.agent.hooks import HookFailed, run_hook
from dualbeat.config import Config, loads
from dualbeat.core.actions import HookEvent


def config_with(tmp_path: Path, script: str, timeout: str = "2s") -> Config:
    key = tmp_path / "key"
    key.write_bytes(os.urandom(32))
    key.chmod(0o600)
    hook = tmp_path / "hook.sh"
    hook.write_text("#!/bin/sh\n" + script)
    hook.chmod(0o755)
    return loads(f"""
cluster = "c1"
[[nodes]]
name = "db1"
address = "10.1.0.1"
[[nodes]]
name = "db2"
address = "10.1.0.2"
[mysql]
user = "u"
password = "p"
[replication]
user = "r"
password = "p"
[heartbeat]
key_file = "{key}"
[hooks]
timeout = "{timeout}"
failover = "{hook}"
""")


def test_hook_gets_the_event_in_its_environment(tmp_path: Path) -> None:
    out = tmp_path / "env.txt"
    config = config_with(tmp_path, f'env | grep ^DUALBEAT_ | sort > "{out}"\n')
    result = run_hook(config, "db2", HookEvent.FAILOVER, {"DUALBEAT_EPOCH": "7"})
    assert result.endswith("ok")
    lines = set(out.read_text().splitlines())
    assert {
        "DUALBEAT_NODE=db2",
        "DUALBEAT_PEER=db1",
        "DUALBEAT_CLUSTER=c1",
        "DUALBEAT_EVENT=failover",
        "DUALBEAT_EPOCH=7",
    } <= lines


def test_unconfigured_hook_is_a_no_op(tmp_path: Path) -> None:
    config = config_with(tmp_path, "exit 0\n")
    assert run_hook(config, "db1", HookEvent.FENCE, {}) == "no hook configured"


def test_failing_hook_reports_its_exit_code_and_last_line(tmp_path: Path) -> None:
    config = config_with(tmp_path, "echo first; echo 'no quorum on the proxy' >&2; exit 3\n")
    with pytest.raises(HookFailed, match=r"exited 3: no quorum on the proxy"):
        run_hook(config, "db1", HookEvent.FAILOVER, {})


def test_hung_hook_is_killed_at_the_timeout(tmp_path: Path) -> None:
    config = config_with(tmp_path, "sleep 30\n", timeout="300ms")
    with pytest.raises(HookFailed, match=r"did not finish within 0.3 s"):
        run_hook(config, "db1", HookEvent.FAILOVER, {})
