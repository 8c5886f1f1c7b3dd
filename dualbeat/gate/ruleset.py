"""The nftables ruleset of the client gate, as libnftables JSON (``nft -j``).

Who may still connect while the gate is shut, and why by *source address*:
- the peer's addresses (its MySQL address and its heartbeat link addresses): the peer's
  replication I/O thread and its agent's SQL probe connect from there;
- this host's own addresses (same list) and loopback: the local agent connects to its own
  server from there (a unix socket never crosses the firewall at all).
Matching the socket owner (``meta skuid``) would single out the agent's process, but it is
known only for packets this host sends, not for the connections it receives, so it cannot
tell a replica's connection from a client's on the server side. The cost of the address
rule: a client running *on* one of the two database hosts is not shut out. Clients of an
HA pair connect from application hosts, through the VIP.

Everything else sent to the MySQL port is answered with a TCP reset: a SYN gets a refusal
the client can retry at once (never silence), and a segment of a connection that the
socket destroy missed gets a reset too (the nftables fallback).

The table is replaced in one transaction (add, delete, add: atomic in nft), so a shut
gate never has a moment without its rule and re-shutting is idempotent.

With a VIP, shutting also stops this host answering ARP for it (table ``arp dualbeat``):
the releasing node may then keep the address a little longer (see
``VipManager.release``), so that a client whose neighbour entry still points here gets a
reset for its SYN instead of silence until the new holder's gratuitous ARP, and no two
hosts answer ARP for the VIP. ``answer_arp`` removes that table; a claim always does.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network, ip_network
from typing import Any

FAMILY = "inet"
TABLE = "dualbeat"
CHAIN = "clients"
ARP_CHAIN = "silence"
#: Before the usual ``filter`` chains (priority 0), so a host firewall's accept rules for
#: the MySQL port cannot let a client through while the gate is shut.
PRIORITY = -10

_LOOPBACK: tuple[IPv4Network | IPv6Network, ...] = (
    ip_network("127.0.0.0/8"),
    ip_network("::1/128"),
)

Address = IPv4Address | IPv6Address


@dataclass(frozen=True)
class GateSpec:
    """What the gate guards: one TCP port, and the sources that stay allowed; with a
    ``vip``, the address this host stops answering ARP for while shut."""

    port: int
    allowed: tuple[Address, ...]
    vip: IPv4Address | None = None

    def __post_init__(self) -> None:
        if not 1 <= self.port <= 65535:
            raise ValueError(f"GateSpec.port must be a TCP port (1-65535), got {self.port}")

    def sources(self, version: int) -> list[IPv4Network | IPv6Network]:
        """The allowed networks of one IP version: loopback plus each address, sorted."""
        nets = {n for n in _LOOPBACK if n.version == version}
        nets |= {ip_network(a) for a in self.allowed if a.version == version}
        return sorted(nets, key=lambda n: (int(n.network_address), n.prefixlen))


def spec_for(port: int, addresses: Iterable[Address], vip: IPv4Address | None = None) -> GateSpec:
    """A spec with ``addresses`` deduplicated and in a stable order."""
    ordered = tuple(sorted(set(addresses), key=lambda a: (a.version, int(a))))
    return GateSpec(port, ordered, vip)


def _table() -> dict[str, Any]:
    return {"family": FAMILY, "name": TABLE}


def _element(net: IPv4Network | IPv6Network) -> Any:
    if net.prefixlen == net.max_prefixlen:
        return str(net.network_address)
    return {"prefix": {"addr": str(net.network_address), "len": net.prefixlen}}


def _tcp_port(port: int) -> dict[str, Any]:
    return {
        "match": {
            "op": "==",
            "left": {"payload": {"protocol": "tcp", "field": "dport"}},
            "right": port,
        }
    }


def _rule(*expr: dict[str, Any]) -> dict[str, Any]:
    return {"add": {"rule": {"family": FAMILY, "table": TABLE, "chain": CHAIN, "expr": list(expr)}}}


def shut(spec: GateSpec, silence_arp: bool = True) -> dict[str, Any]:
    """The commands that put the shut gate in place, replacing any earlier table; with
    ``silence_arp`` (a handoff) this host also stops answering ARP for the VIP."""
    commands: list[dict[str, Any]] = [
        {"add": {"table": _table()}},
        {"delete": {"table": _table()}},
        {"add": {"table": _table()}},
        {
            "add": {
                "chain": {
                    "family": FAMILY,
                    "table": TABLE,
                    "name": CHAIN,
                    "type": "filter",
                    "hook": "input",
                    "prio": PRIORITY,
                    "policy": "accept",
                }
            }
        },
    ]
    for version, protocol in ((4, "ip"), (6, "ip6")):
        commands.append(
            _rule(
                _tcp_port(spec.port),
                {
                    "match": {
                        "op": "==",
                        "left": {"payload": {"protocol": protocol, "field": "saddr"}},
                        "right": {"set": [_element(n) for n in spec.sources(version)]},
                    }
                },
                {"accept": None},
            )
        )
    commands.append(_rule(_tcp_port(spec.port), {"reject": {"type": "tcp reset"}}))
    if silence_arp and spec.vip is not None:
        commands += _arp_silence(spec.vip)
    return {"nftables": [{"metainfo": {"json_schema_version": 1}}, *commands]}


def _arp_table() -> dict[str, Any]:
    return {"family": "arp", "name": TABLE}


def _arp_silence(vip: IPv4Address) -> list[dict[str, Any]]:
    """Drop ARP requests for the VIP: this host no longer answers for it."""
    arp = {"family": "arp", "table": TABLE, "name": ARP_CHAIN}
    match = [
        {
            "match": {
                "op": "==",
                "left": {"payload": {"protocol": "arp", "field": "operation"}},
                "right": "request",
            }
        },
        {
            "match": {
                "op": "==",
                "left": {"payload": {"protocol": "arp", "field": "daddr ip"}},
                "right": str(vip),
            }
        },
        {"drop": None},
    ]
    return [
        {"add": {"table": _arp_table()}},
        {"delete": {"table": _arp_table()}},
        {"add": {"table": _arp_table()}},
        {"add": {"chain": {**arp, "type": "filter", "hook": "input", "prio": 0}}},
        {"add": {"rule": {"family": "arp", "table": TABLE, "chain": ARP_CHAIN, "expr": match}}},
    ]


def answer_arp() -> dict[str, Any]:
    """The commands that let this host answer ARP for the VIP again (absent is fine)."""
    return {
        "nftables": [
            {"metainfo": {"json_schema_version": 1}},
            {"add": {"table": _arp_table()}},
            {"delete": {"table": _arp_table()}},
        ]
    }


def opened() -> dict[str, Any]:
    """The commands that remove the gate's table (absent already is fine: add first)."""
    return {
        "nftables": [
            {"metainfo": {"json_schema_version": 1}},
            {"add": {"table": _table()}},
            {"delete": {"table": _table()}},
        ]
    }


def destroy_filter(spec: GateSpec) -> list[str]:
    """``ss`` arguments selecting the established connections *to* the port whose peer is
    not an allowed source: the client connections the gate tears down."""
    keep: list[str] = []
    for net in [*spec.sources(4), *spec.sources(6)]:
        keep += [*(["or"] if keep else []), "dst", str(net)]
    return [
        "state",
        "established",
        "(",
        "sport",
        "=",
        f":{spec.port}",
        ")",
        "and",
        "not",
        "(",
        *keep,
        ")",
    ]
