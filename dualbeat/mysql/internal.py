"""dualbeat's own transactions, kept apart from the clients' (issue 12 item 1).

The agent writes a few binlogged rows of its own: the ``dualbeat`` schema and the epoch
row of a promoting node. Were they mixed with client transactions, an active cut off from
its peer would come back holding "transactions the active lacks" and be fenced for rows
no client ever wrote. So on MariaDB each node writes them in a GTID domain of its own
(``Config.internal_domain``: one per node, so the two never write the same domain and
``gtid_strict_mode`` never sees a fork), and every comparison between the nodes looks at
``client_view`` of a GTID set: the set without those domains. The heartbeat row is
written with the binary log off and has no GTID at all.

MySQL has no per-session domain: there the sets are compared whole (8.4's GTID tags
could do the same; not done yet).
"""

from __future__ import annotations

from collections.abc import Collection

from dualbeat.core.gtid import GtidSet, MariadbGtidSet

__all__ = ["client_view"]

_WHOLE_DOMAIN = f"1..{2**64 - 1}"  # every sequence number a MariaDB domain can hold


def client_view(gtids: GtidSet, internal: Collection[int]) -> GtidSet:
    """``gtids`` without dualbeat's own domains (MariaDB); a MySQL set is returned whole."""
    if not isinstance(gtids, MariadbGtidSet):
        return gtids
    mine = [d for d in internal if d in gtids.domains()]
    if not mine:
        return gtids
    return gtids - MariadbGtidSet.parse(",".join(f"{d}-0-{_WHOLE_DOMAIN}" for d in mine))
