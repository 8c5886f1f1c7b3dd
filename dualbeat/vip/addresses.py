"""Reading this host's addresses over netlink, to know which node we are."""

from __future__ import annotations

from dualbeat.vip.netlink import Rtnl


def local_addresses() -> set[str]:
    """Every IPv4/IPv6 address configured on an interface of this network namespace."""
    with Rtnl() as rtnl:
        return {a.address for a in rtnl.addresses()}
