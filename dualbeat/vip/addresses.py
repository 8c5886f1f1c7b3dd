"""Reading this host's addresses over netlink (pyroute2), to know which node we are."""

from __future__ import annotations

from pyroute2 import IPRoute


def local_addresses() -> set[str]:
    """Every IPv4/IPv6 address configured on an interface of this network namespace."""
    with IPRoute() as ipr:
        return {str(msg.get_attr("IFA_ADDRESS")) for msg in ipr.get_addr()}
