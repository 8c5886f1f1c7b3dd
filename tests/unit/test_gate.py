"""The client gate's ruleset (pure JSON), its ``ss`` filter, and the fake beside it."""

from __future__ import annotations

import json
from ipaddress import IPv4Address, ip_address, ip_network
from pathlib import Path
from typing import Any

import pytest

from dualbeat.errors import GateError
from dualbeat.gate import drain, ruleset
from dualbeat.gate.fake import FakeGate
from dualbeat.gate.ruleset import GateSpec, spec_for

SPEC = spec_for(3306, [ip_address("10.0.0.2"), ip_address("10.0.0.1"), ip_address("10.0.0.2")])


def _rules(commands: dict[str, Any]) -> list[dict[str, Any]]:
    items = commands["nftables"]
    assert isinstance(items, list)
    return [i["add"]["rule"] for i in items if "rule" in i.get("add", {})]


def test_spec_dedups_and_orders_addresses() -> None:
    assert SPEC.allowed == (ip_address("10.0.0.1"), ip_address("10.0.0.2"))


def test_spec_rejects_a_port_out_of_range() -> None:
    with pytest.raises(ValueError, match="1-65535"):
        GateSpec(0, ())


def test_sources_always_keep_loopback() -> None:
    assert SPEC.sources(4) == [
        ip_network("10.0.0.1/32"),
        ip_network("10.0.0.2/32"),
        ip_network("127.0.0.0/8"),
    ]
    assert SPEC.sources(6) == [ip_network("::1/128")]


def test_shut_replaces_only_its_own_table() -> None:
    commands = ruleset.shut(SPEC)["nftables"]
    tables = [
        (verb, body["table"]) for item in commands for verb, body in item.items() if "table" in body
    ]
    assert tables == [
        ("add", {"family": "inet", "name": "dualbeat"}),
        ("delete", {"family": "inet", "name": "dualbeat"}),
        ("add", {"family": "inet", "name": "dualbeat"}),
    ]
    assert all(rule["table"] == "dualbeat" for rule in _rules(ruleset.shut(SPEC)))


def test_shut_accepts_allowed_sources_then_resets_everything_else_on_the_port() -> None:
    v4, v6, last = _rules(ruleset.shut(SPEC))
    assert v4["expr"][-1] == {"accept": None}
    allowed = v4["expr"][1]["match"]["right"]["set"]
    assert allowed == ["10.0.0.1", "10.0.0.2", {"prefix": {"addr": "127.0.0.0", "len": 8}}]
    assert v6["expr"][1]["match"]["right"]["set"] == ["::1"]
    assert last["expr"] == [
        {
            "match": {
                "op": "==",
                "left": {"payload": {"protocol": "tcp", "field": "dport"}},
                "right": 3306,
            }
        },
        {"reject": {"type": "tcp reset"}},
    ]


def test_open_removes_the_table_even_when_absent() -> None:
    verbs = [next(iter(i)) for i in ruleset.opened()["nftables"]]
    assert verbs == ["metainfo", "add", "delete"]


def test_destroy_filter_spares_allowed_peers() -> None:
    assert ruleset.destroy_filter(SPEC) == [
        *("state", "established", "(", "sport", "=", ":3306", ")", "and", "not", "("),
        *("dst", "10.0.0.1/32", "or", "dst", "10.0.0.2/32", "or", "dst", "127.0.0.0/8"),
        *("or", "dst", "::1/128", ")"),
    ]


def test_fake_gate_tears_down_connections_and_can_fail() -> None:
    gate = FakeGate()
    gate.connections = 3
    assert gate.shut().destroyed == 3
    assert gate.is_shut()
    assert gate.shut().destroyed == 0
    gate.fail = "nft not found"
    with pytest.raises(GateError, match="nft not found"):
        gate.open()
    gate.open()
    assert not gate.is_shut()
    assert gate.calls == ["shut", "shut", "open", "open"]


def test_inode_is_read_from_an_ss_line() -> None:
    line = "0 13 10.0.0.9:3306 10.0.0.7:41234 uid:104 ino:98765 sk:1 <->"
    assert drain.inode(line) == 98765
    assert drain.inode("0 0 10.0.0.9:3306 10.0.0.7:41235 ino:0 sk:2 <->") is None


def test_owners_are_found_in_proc_and_only_for_the_inodes_asked(tmp_path: Path) -> None:
    for pid, fd, target in ((7, 3, "socket:[11]"), (7, 4, "pipe:[12]"), (9, 5, "socket:[13]")):
        fds = tmp_path / str(pid) / "fd"
        fds.mkdir(parents=True, exist_ok=True)
        (fds / str(fd)).symlink_to(target)
    (tmp_path / "self").mkdir()
    assert drain.owners({13}, tmp_path) == [drain.Owner(pid=9, fd=5, inode=13)]
    assert drain.owners({12}, tmp_path) == []


def test_a_gate_with_a_vip_also_stops_answering_arp_for_it() -> None:
    spec = spec_for(3306, [ip_address("10.0.0.1")], IPv4Address("10.0.0.100"))
    commands = ruleset.shut(spec)["nftables"]
    arp_rules = [c["add"]["rule"] for c in commands if "rule" in c.get("add", {})][-1]
    assert arp_rules["family"] == "arp"
    assert arp_rules["expr"][1]["match"]["right"] == "10.0.0.100"
    assert arp_rules["expr"][-1] == {"drop": None}
    assert "arp" not in json.dumps(ruleset.shut(SPEC))  # without a VIP, no ARP table
    verbs = [
        (next(iter(c)), c.get("delete", {}).get("table")) for c in ruleset.answer_arp()["nftables"]
    ]
    assert verbs[-1] == ("delete", {"family": "arp", "name": "dualbeat"})
