"""The [fence] command: hooks' environment, exit code 0 = fenced, bounded by its timeout."""

from __future__ import annotations

import time
from pathlib import Path

from dualbeat.agent.fence import FenceResult, run_fence
from dualbeat.config import FenceConfig


def script(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "fence-peer"
    path.write_text("#!/bin/sh\n" + body)
    path.chmod(0o755)
    return path


def test_fence_gets_its_arguments_and_the_hooks_environment(tmp_path: Path) -> None:
    out = tmp_path / "seen"
    fence = script(tmp_path, f'{{ echo "$@"; env | grep ^DUALBEAT_ | sort; }} > "{out}"\n')
    cfg = FenceConfig(command=f"{fence} --host 'db1 bmc'")
    result = run_fence(cfg, {"DUALBEAT_NODE": "db2", "DUALBEAT_PEER": "db1"})
    assert result == FenceResult(True, f"{fence} ok")
    lines = out.read_text().splitlines()
    assert lines[0] == "--host db1 bmc"
    assert {"DUALBEAT_EVENT=fence", "DUALBEAT_NODE=db2", "DUALBEAT_PEER=db1"} <= set(lines)


def test_failed_fence_says_why(tmp_path: Path) -> None:
    fence = script(tmp_path, "echo 'BMC db1-bmc: authentication failed' >&2; exit 2\n")
    result = run_fence(FenceConfig(command=str(fence)), {})
    assert not result.ok
    assert result.detail == f"{fence} exited 2: BMC db1-bmc: authentication failed"


def test_missing_command_fails_instead_of_raising(tmp_path: Path) -> None:
    result = run_fence(FenceConfig(command=str(tmp_path / "gone")), {})
    assert result == FenceResult(False, f"{tmp_path / 'gone'}: No such file or directory")
    assert run_fence(FenceConfig(), {}) == FenceResult(False, "no [fence] command configured")


def test_hung_fence_is_killed_with_its_children_at_the_timeout(tmp_path: Path) -> None:
    pid_file = tmp_path / "child.pid"
    fence = script(tmp_path, f'sleep 30 &\necho $! > "{pid_file}"\nwait\n')
    started = time.monotonic()
    result = run_fence(FenceConfig(command=str(fence), timeout=0.5), {})
    assert not result.ok and result.detail == f"{fence} did not finish within 0.5 s"
    assert time.monotonic() - started < 5
    child = int(pid_file.read_text())
    deadline = time.monotonic() + 5
    while _alive(child) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert not _alive(child), "the fence command's child outlived the timeout"


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state not in ("Z", "X")
