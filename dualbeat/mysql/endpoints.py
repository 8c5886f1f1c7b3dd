"""Endpoints from the configuration: which account reaches which node, and how patiently."""

from __future__ import annotations

from dualbeat.config import Config, Credentials
from dualbeat.mysql.connection import Endpoint, Server


def endpoint(
    config: Config,
    node: str,
    *,
    admin: bool = False,
    connect_timeout: float = 5.0,
    read_timeout: float = 30.0,
) -> Endpoint:
    """The endpoint for ``node``; ``admin`` picks [admin] credentials when configured.

    Operator commands use generous timeouts (a DBA waits seconds, not milliseconds); the
    agent's monitor builds its own endpoints with the [monitor] timeouts.
    """
    n = config.node(node)
    creds: Credentials = config.admin if admin and config.admin else config.mysql
    return Endpoint(
        name=n.name,
        host=n.mysql_address,
        port=n.mysql_port,
        user=creds.user,
        password=creds.secret(),
        unix_socket=None,
        connect_timeout=connect_timeout,
        read_timeout=read_timeout,
    )


def servers(config: Config, *, admin: bool = False) -> tuple[Server, Server]:
    """Unopened connections to both nodes, in config order."""
    a, b = config.nodes
    return Server(endpoint(config, a.name, admin=admin)), Server(
        endpoint(config, b.name, admin=admin)
    )
