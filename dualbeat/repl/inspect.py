"""Gather both snapshots and judge them: the I/O half of ``dualbeat repl check``."""

from __future__ import annotations

from dualbeat.config import Config, safety_warnings
from dualbeat.mysql import snapshot
from dualbeat.mysql.endpoints import servers
from dualbeat.repl.check import CheckResult, Pair, check_pair


def inspect_pair(config: Config, *, active: str | None = None) -> list[CheckResult]:
    """Snapshot both servers and run every rule.

    Without ``active``, the writable server is judged as the active; with none or both
    writable, the first node is (and the ``writers`` rule says what is wrong).
    """
    snaps = {}
    for server in servers(config):
        with server:
            snaps[server.name] = snapshot.take(server)
    if active is None:
        writable = [n.name for n in config.nodes if snaps[n.name].writable]
        active = writable[0] if len(writable) == 1 else config.nodes[0].name
    passive = config.peer_of(active).name
    addresses = {n.name: (n.mysql_address, n.mysql_port) for n in config.nodes}
    return check_pair(
        Pair(
            active=snaps[active],
            passive=snaps[passive],
            addresses=addresses,
            max_lag=config.replication.max_lag,
            safety=tuple(safety_warnings(config)),
            internal_domains=config.internal_domains(),
        )
    )
