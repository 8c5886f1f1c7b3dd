"""Hook scripts, as HeartBeat's resource scripts and Mon's alerts: run with DUALBEAT_* env.

Bounded by ``[hooks].timeout``: a hung script is killed, and counts as failed. A failed
``pre_promote`` hook vetoes the promotion only when ``pre_promote_can_veto`` is set.
``run_command`` is shared with the ``[fence]`` command (``dualbeat.agent.fence``).
"""

from __future__ import annotations

import os
import signal
import subprocess
from collections.abc import Mapping, Sequence

from dualbeat.config import Config
from dualbeat.core.actions import HookEvent
from dualbeat.errors import HookFailed

__all__ = ["HookFailed", "run_command", "run_hook"]


def run_hook(config: Config, node: str, event: HookEvent, env: Mapping[str, str]) -> str:
    """Run the script for ``event`` if one is configured; returns a one-line outcome."""
    script = getattr(config.hooks, event.value)
    if script is None:
        return "no hook configured"
    extra = {
        "DUALBEAT_NODE": node,
        "DUALBEAT_PEER": config.peer_of(node).name,
        "DUALBEAT_CLUSTER": config.cluster,
        "DUALBEAT_EVENT": event.value,
        **env,
    }
    return run_command([str(script)], extra, config.hooks.timeout)


def run_command(argv: Sequence[str], env: Mapping[str, str], timeout: float) -> str:
    """Run ``argv`` with our environment plus ``env``; ``"<program> ok"`` or ``HookFailed``.

    The command runs in its own process group, and the whole group is killed at the
    timeout: a script's children (ipmitool, ssh) must not outlive it and act late.
    """
    name = argv[0]
    try:
        proc = subprocess.Popen(
            list(argv),
            env={**os.environ, **env},
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )
    except OSError as exc:
        raise HookFailed(f"{name}: {exc.strerror}") from None
    try:
        stdout, stderr = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        raise HookFailed(f"{name} did not finish within {timeout:g} s") from None
    if proc.returncode != 0:
        tail = (stderr or stdout).strip().splitlines()[-1:] or [""]
        raise HookFailed(f"{name} exited {proc.returncode}: {tail[0]}")
    return f"{name} ok"
