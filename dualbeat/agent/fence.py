"""The ``[fence]`` command: make sure the old active cannot write before we take over.

STONITH in HeartBeat's words: power the peer off through its BMC, shut its switch port,
detach its storage. dualbeat runs the operator's command (no shell; split like a shell
would) with the hooks' ``DUALBEAT_*`` environment and ``DUALBEAT_EVENT=fence``, bounded by
``[fence].timeout``; exit code 0 means fenced. With ``required = true`` the core does not
promote until a run has succeeded.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from dualbeat.agent.hooks import HookFailed, run_command
from dualbeat.config import FenceConfig


@dataclass(frozen=True)
class FenceResult:
    ok: bool
    detail: str


def run_fence(cfg: FenceConfig, env: Mapping[str, str]) -> FenceResult:
    """Run the fence command once; never raises (a failure is ``ok=False`` with why)."""
    argv = cfg.argv()
    if not argv:
        return FenceResult(False, "no [fence] command configured")
    try:
        detail = run_command(argv, {"DUALBEAT_EVENT": "fence", **env}, cfg.timeout)
    except HookFailed as exc:
        return FenceResult(False, str(exc))
    return FenceResult(True, detail)
