"""The arbiter: a third vote outside the pair, so a partition between the nodes cannot
make two writers. ``open_arbiter`` returns the engine named by ``[arbiter].kind``."""

from __future__ import annotations

from dualbeat.arbiter.types import Arbiter, ArbiterUnavailable, Floor, Grant, View
from dualbeat.config import ArbiterConfig


def open_arbiter(cfg: ArbiterConfig) -> Arbiter:
    """A client for the configured arbiter; connects lazily, on its first call."""
    from dualbeat.arbiter.etcd import EtcdArbiter

    return EtcdArbiter(cfg)


__all__ = ["Arbiter", "ArbiterUnavailable", "Floor", "Grant", "View", "open_arbiter"]
