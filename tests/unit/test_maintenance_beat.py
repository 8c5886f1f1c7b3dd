"""The maintenance setting on the wire and on disk: heartbeat fields and the state file."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from dualbeat.agent import beats, statefile
from dualbeat.core.durable import Durable
from dualbeat.core.roles import Role
from dualbeat.core.state import NodeState
from dualbeat.errors import ConfigError
from dualbeat.heartbeat.codec import DropReason, decode, encode
from tests.unit.test_heartbeat_codec import KEY, beat, fields_of, reason, sign_json


def test_maintenance_and_its_version_round_trip() -> None:
    b = beat(maintenance=True, maintenance_version=12)
    got = decode(encode(b, KEY), KEY, cluster="orders")
    assert got.maintenance is True and got.maintenance_version == 12


def test_a_beat_from_an_older_peer_without_the_version_decodes_as_zero() -> None:
    fields = fields_of(beat(maintenance=True))
    del fields["maintenance_version"]
    got = decode(sign_json(fields), KEY, cluster="orders")
    assert got.maintenance is True and got.maintenance_version == 0


@pytest.mark.parametrize("bad", [-1, 1.5, "3", True, 2**63])
def test_a_bad_version_is_garbled(bad: object) -> None:
    fields = fields_of(beat()) | {"maintenance_version": bad}
    assert reason(sign_json(fields)) is DropReason.GARBLED


def test_a_bad_flag_is_garbled() -> None:
    fields = fields_of(beat()) | {"maintenance": "yes"}
    assert reason(sign_json(fields)) is DropReason.GARBLED


def test_the_agent_announces_its_setting_and_reads_the_peers() -> None:
    durable = Durable(epoch=2, maintenance=True, maintenance_version=5)
    state = NodeState(role=Role.STANDBY, durable=durable)
    out = beats.outgoing("orders", "db1", state, seq=1)
    assert out.maintenance is True and out.maintenance_version == 5
    back = beats.incoming(
        dataclasses.replace(out, executed="", received=""), "mariadb", our_boot=out.ack_boot
    )
    assert back.maintenance is True and back.maintenance_version == 5


def test_the_state_file_keeps_the_setting(tmp_path: Path) -> None:
    statefile.save(tmp_path, Durable(epoch=3, maintenance=True, maintenance_version=4))
    loaded = statefile.load(tmp_path)
    assert loaded.maintenance is True and loaded.maintenance_version == 4


def test_a_state_file_from_before_maintenance_loads_unpaused(tmp_path: Path) -> None:
    (tmp_path / statefile.FILENAME).write_text(json.dumps({"epoch": 3, "last_role": "active"}))
    loaded = statefile.load(tmp_path)
    assert loaded.epoch == 3 and loaded.maintenance is False and loaded.maintenance_version == 0


def test_a_garbled_flag_in_the_state_file_is_an_error_naming_it(tmp_path: Path) -> None:
    (tmp_path / statefile.FILENAME).write_text(json.dumps({"epoch": 3, "maintenance": "yes"}))
    with pytest.raises(ConfigError, match="maintenance"):
        statefile.load(tmp_path)
