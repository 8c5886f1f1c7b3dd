"""``dualbeat sandbox up``: the lab, then replication by ``dualbeat repl setup`` itself.

The servers listen only inside their namespaces, so the real ``dualbeat repl setup``
command runs inside the client namespace, exactly as an operator would run it from a
host that reaches both servers. Then database ``app`` and user ``app`` are created on
the active through its socket, binlogged, so they reach the passive by replication.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from dualbeat.mysql import accounts
from dualbeat.mysql.connection import Server
from dualbeat_lab.errors import SandboxError
from dualbeat_lab.sandbox import agents, lab

APP = "app"


def dualbeat_in(ns: str, args: list[str], progress: lab.Progress, timeout: float = 120.0) -> None:
    """Run a dualbeat command inside namespace ``ns``, streaming its messages to ``progress``."""
    argv = ["ip", "netns", "exec", ns, sys.executable, "-m", "dualbeat", *args]
    env = {**os.environ, "COLUMNS": "160"}  # tables stay readable when piped
    with subprocess.Popen(
        argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1, env=env
    ) as proc:
        assert proc.stdout is not None
        lines = []
        for line in proc.stdout:
            lines.append(line.rstrip())
            progress(f"  {line.rstrip()}")
        try:
            code = proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            raise SandboxError(f"{' '.join(args)} did not finish in {timeout:g} s") from None
    if code != 0:
        raise SandboxError(f"`dualbeat {' '.join(args)}` failed (exit {code}): {lines[-1:]}")


def provision(
    state_dir: Path, progress: lab.Progress, *, with_agents: bool = True, arbiter: bool = False
) -> lab.LabInfo:
    """Build or repair the lab and make it a replicating pair with db1 active, then (unless
    ``with_agents`` is false) start both agents and wait for them to settle. Idempotent.

    ``arbiter`` adds the witness namespace running etcd; the generated config then has an
    [arbiter] section and [ping] nodes (the witness's two addresses)."""
    info = lab.up(state_dir, progress, arbiter=arbiter)
    progress(f"dualbeat repl setup (inside namespace {info.client_namespace})")
    dualbeat_in(info.client_namespace, ["repl", "setup", "-c", str(info.config_path)], progress)
    active = info.nodes[0]
    with Server(active.root_endpoint()) as server:
        accounts.ensure_database(server, APP)
        accounts.ensure_user(
            server,
            APP,
            info.secrets.password(APP),
            accounts.Grant.DATABASE,
            database=APP,
            binlog=True,
        )
    progress(f"database {APP!r} and user {APP!r} created on {active.name} (replicated)")
    if with_agents:
        agents.start_all(info, progress)
    return info
