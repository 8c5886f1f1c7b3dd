"""The source side of semi-sync as one probe reads it: on or off, and its counters.

Why the probe reads more than "on": the client gate's windows (``gate.window``) also
claim the commits that were still *waiting* for the standby's acknowledgement when the
gate destroyed their clients' connections, and that needs proof no such commit returned
to its client before (``gate.acks``). The counters give it: a commit returns without an
acknowledgement only by timing out or while semi-sync is off, and either way the server
counts it in ``Rpl_semi_sync_master_no_tx`` (MariaDB 10.11 measured here: a timed-out
commit, each commit while off, and each waiting commit released by switching semi-sync
off all add one). ``wait_sessions`` says whether any commit was waiting at that moment.

The status counters are read in the probe's one statement, as ``name=value`` pairs
(``mysql.probe.probe_state``); the two settings as their own columns.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from dualbeat.mysql.replica_status import to_flag, to_optional_int, to_str

__all__ = ["SemisyncSource", "parse_source"]


@dataclass(frozen=True)
class SemisyncSource:
    """``on``: the status (commits wait for an acknowledgement); ``unacked``: commits
    that returned without one since the server started (``*_no_tx``); ``waiting``:
    sessions waiting for one now (``*_wait_sessions``); ``timeout``: how long a commit
    waits, in seconds; ``wait_no_replica``: whether commits wait with no replica
    connected (off: the status drops at once when the replica goes, uncounted)."""

    on: bool
    unacked: int
    waiting: int
    timeout: float
    wait_no_replica: bool


def parse_source(
    counters: object, timeout_ms: object, wait_no_replica: object, names: Mapping[str, str]
) -> SemisyncSource | None:
    """The reading from the probe's columns: ``counters`` is ``name=value,...`` over the
    status counters ``names`` maps to ``status``, ``unacked`` and ``waiting`` (case
    ignored). None when semi-sync's counters are absent (MySQL without the plugin) or
    any part is unreadable: the claim then never holds."""
    text = to_str(counters)
    if not text:
        return None
    by_name = {}
    for pair in text.split(","):
        name, _, value = pair.partition("=")
        by_name[name.strip().lower()] = value.strip()
    values = {field: by_name.get(name.lower()) for field, name in names.items()}
    unacked, waiting = to_optional_int(values["unacked"]), to_optional_int(values["waiting"])
    timeout, wait = to_optional_int(timeout_ms), to_flag(wait_no_replica)
    status = values["status"]
    if status is None or unacked is None or waiting is None or timeout is None or wait is None:
        return None
    return SemisyncSource(
        on=bool(to_flag(status)),
        unacked=unacked,
        waiting=waiting,
        timeout=timeout / 1000,
        wait_no_replica=bool(wait),
    )
