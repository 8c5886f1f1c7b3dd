"""Start rules: what the agent refuses to start with, ``load`` and ``check-config`` refuse
too, by the same function. One test per rule in ``START_RULES``."""

from __future__ import annotations

import os
import tomllib
from pathlib import Path

import pytest
from click.testing import CliRunner

from dualbeat.agent.runtime import core_config
from dualbeat.cli import cli
from dualbeat.config import START_RULES, Config, load
from dualbeat.config.rules import watchdog_within_lease
from dualbeat.errors import ConfigError
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
    assert (watchdog_within_lease,) == START_RULES


def test_watchdog_not_shorter_than_the_lease_is_refused_by_load_and_agent(secrets: Path) -> None:
    text = BASE + ARBITER + '[watchdog]\nenabled = true\ntimeout = "3s"\n'
    path = write(secrets, text)
    why = "watchdog.timeout (3s) must be shorter than arbiter.ttl (3s) minus 0.5s"
    with pytest.raises(ConfigError) as loaded:
        load(path)
    line = line_of(text, 'timeout = "3s"')
    assert str(loaded.value).startswith(f"{path}:{line}: watchdog.timeout: ")
    assert why in str(loaded.value)
    result = CliRunner().invoke(cli, ["check-config", "--no-local-check", str(path)])
    assert result.exit_code == 2 and why in result.output, result.output
    with pytest.raises(ConfigError) as started:
        core_config(schema_only(path), "db1")
    assert str(started.value).startswith(f"{path}: watchdog.timeout: ")
    assert why in str(started.value)
    # Below ttl minus the margin, both accept it.
    fast = write(secrets, BASE + ARBITER + '[watchdog]\nenabled = true\ntimeout = "2s"\n')
    assert load(fast).watchdog.timeout == 2.0
    assert core_config(schema_only(fast), "db1").watchdog_timeout == 2.0
