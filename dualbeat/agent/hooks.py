"""Hook scripts, as HeartBeat's resource scripts and Mon's alerts: run with DUALBEAT_* env.

Bounded by ``[hooks].timeout``: a hung script is killed, and counts as failed. A failed
``pre_promote`` hook vetoes the promotion only when ``pre_promote_can_veto`` is set.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Mapping

from dualbeat.config import Config
from dualbeat.core.actions import HookEvent


class HookFailed(Exception):
    pass


def run_hook(config: Config, node: str, event: HookEvent, env: Mapping[str, str]) -> str:
    """Run the script for ``event`` if one is configured; returns a one-line outcome."""
    script = getattr(config.hooks, event.value)
    if script is None:
        return "no hook configured"
    full = {
        **os.environ,
        "DUALBEAT_NODE": node,
        "DUALBEAT_PEER": config.peer_of(node).name,
        "DUALBEAT_CLUSTER": config.cluster,
        "DUALBEAT_EVENT": event.value,
        **env,
    }
    try:
        proc = subprocess.run(
            [str(script)],
            env=full,
            capture_output=True,
            text=True,
            timeout=config.hooks.timeout,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise HookFailed(f"{script} did not finish within {config.hooks.timeout:g} s") from None
    except OSError as exc:
        raise HookFailed(f"{script}: {exc.strerror}") from None
    if proc.returncode != 0:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or [""]
        raise HookFailed(f"{script} exited {proc.returncode}: {tail[0]}")
    return f"{script} ok"
