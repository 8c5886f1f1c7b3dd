"""Start rules: what the agent refuses to start with, ``load`` and ``check-config`` refuse
too, by the same function. One test per rule in ``START_RULES``."""

from __future__ import annotations

import os
import tomllib
from pathlib import Path

import pytest
from click.testing import CliRunner

from dualbeat.agent.settings import core_config
from dualbeat.cli import cli
from dualbeat.config import START_RULES, Config, load
from dualbeat.config.rules import links_one_ip_version, vip_is_ipv4, watchdog_within_lease
from dualbeat.errors import ConfigError, VipError
from dualbeat.heartbeat.link import read_key
from dualbeat.vip.manager import VipManager
from tests.unit.test_config import ARBITER, BASE, line_of, write


@pytest.fixture
def secrets(tmp_path: Path) -> Path:
    for name, data in (("hb.key", os.urandom(32)), ("mysql.pass", b"pw\n")):
        (tmp_path / name).write_bytes(data)
        (tmp_path / name).chmod(0o600)
    return tmp_path


def schema_only(path: Path) -> Config:
    """The config as the schema alone accepts it: what a caller could hand the agent
    without going through ``load``."""
    return Config.model_validate({**tomllib.loads(path.read_text()), "source": path})


def test_every_start_rule_has_a_test_here() -> None:
    assert (watchdog_within_lease, vip_is_ipv4, links_one_ip_version) == START_RULES


def refused_alike(path: Path, text: str, needle: str, key: str, why: str) -> None:
    """``load``, ``check-config`` and the agent's start (``core_config``, which
    ``Agent.__init__`` calls first) refuse ``path`` for the same reason, naming ``key``;
    ``load`` names the line of ``needle`` too."""
    with pytest.raises(ConfigError) as loaded:
        load(path)
    assert str(loaded.value).startswith(f"{path}:{line_of(text, needle)}: {key}: ")
    assert why in str(loaded.value)
    result = CliRunner().invoke(cli, ["check-config", "--no-local-check", str(path)])
    assert result.exit_code == 2 and why in result.output, result.output
    with pytest.raises(ConfigError) as started:
        core_config(schema_only(path), "db1")
    assert str(started.value) == f"{path}: {key}: {why}"


def test_watchdog_not_shorter_than_the_lease_is_refused_by_load_and_agent(secrets: Path) -> None:
    text = BASE + ARBITER + '[watchdog]\nenabled = true\ntimeout = "3s"\n'
    path = write(secrets, text)
    why = (
        "watchdog.timeout (3s) must be shorter than arbiter.ttl (3s) minus 0.5s: the agent "
        "kicks the watchdog only while its lease outlasts the timeout, so a hung agent is "
        "reset before the peer may take over"
    )
    refused_alike(path, text, 'timeout = "3s"', "watchdog.timeout", why)
    # Below ttl minus the margin, both accept it.
    fast = write(secrets, BASE + ARBITER + '[watchdog]\nenabled = true\ntimeout = "2s"\n')
    assert load(fast).watchdog.timeout == 2.0
    assert core_config(schema_only(fast), "db1").watchdog_timeout == 2.0


def test_a_short_heartbeat_key_is_refused_by_load_and_agent(secrets: Path) -> None:
    path = write(secrets, BASE)
    good = schema_only(path)
    assert read_key(good) == (secrets / "hb.key").read_bytes()
    (secrets / "hb.key").write_bytes(b"0123456789abcde")  # 15 bytes
    why = "hb.key holds 15 bytes; a heartbeat key needs at least 16 (make one with:"
    with pytest.raises(ConfigError) as loaded:
        load(path)
    line = line_of(BASE, "key_file")
    assert str(loaded.value).startswith(f"{path}:{line}: heartbeat.key_file: ")
    assert why in str(loaded.value)
    with pytest.raises(ConfigError) as started:
        read_key(good)  # the agent reads the key at start (``Agent.__init__``)
    assert str(started.value).startswith(f"{path}: heartbeat.key_file: ")
    assert why in str(started.value)


def test_an_ipv6_vip_is_refused_by_load_and_agent(secrets: Path) -> None:
    text = BASE.replace('address = "10.1.0.100/24"', 'address = "fd00::100/64"')
    path = write(secrets, text)
    why = "IPv6 VIPs are not supported yet; use an IPv4 address"
    refused_alike(path, text, "fd00::100/64", "vip.address", why)
    with pytest.raises(VipError, match=why):  # the seam's own guard says the same
        VipManager(schema_only(path).vip.address, "eth0")  # type: ignore[union-attr]


def test_a_heartbeat_link_across_ip_versions_is_refused_by_load_and_agent(secrets: Path) -> None:
    text = BASE.replace('db2 = "10.1.0.12" }}', 'db2 = "fd00::12" }}')
    why = "heartbeat link 'lan': 10.1.0.11 and fd00::12 are not the same IP version"
    refused_alike(write(secrets, text), text, "fd00::12", "heartbeat.links.0.addresses", why)


def test_node_addresses_across_ip_versions_are_refused_without_links(secrets: Path) -> None:
    text = (
        BASE.split("[[heartbeat.links]]")[0].replace(
            'address = "10.1.0.12"', 'address = "fd00::12"'
        )
        + '[monitor]\ninterval = "200ms"\n'
    )
    why = "heartbeat link 'main': 10.1.0.11 and fd00::12 are not the same IP version"
    refused_alike(write(secrets, text), text, "fd00::12", "nodes.1.address", why)
