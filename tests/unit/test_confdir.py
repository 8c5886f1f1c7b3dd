"""``dualbeat init DIR``: a fresh host gets a working, private directory, and a second run
never replaces the one key both servers must share."""

from __future__ import annotations

import stat
from pathlib import Path

from dualbeat import confdir
from dualbeat.config import load


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_a_missing_directory_is_created_private_with_every_file(tmp_path: Path) -> None:
    target = tmp_path / "etc" / "dualbeat"  # neither level exists yet
    created = confdir.create(target)
    assert mode(target) == 0o700
    names = {p.name for p in created.written}
    assert names == {"dualbeat.toml", "heartbeat.key", "mysql.pass", "repl.pass", "admin.pass"}
    for path in created.written:
        assert mode(path) == 0o600, path
    assert len((target / "heartbeat.key").read_bytes()) == confdir.KEY_BYTES
    assert len((target / "repl.pass").read_text()) >= 24


def test_the_written_configuration_loads_and_points_into_the_directory(tmp_path: Path) -> None:
    created = confdir.create(tmp_path / "conf")
    config = load(created.config)
    assert config.heartbeat.key_file == created.directory / "heartbeat.key"
    assert config.mysql.password_file == created.directory / "mysql.pass"
    assert config.replication.secret() == (created.directory / "repl.pass").read_text()


def test_a_second_run_keeps_the_key_and_passwords_even_with_force(tmp_path: Path) -> None:
    first = confdir.create(tmp_path / "d")
    key = (first.directory / "heartbeat.key").read_bytes()
    (first.config).write_text("cluster = 'edited'\n")
    again = confdir.create(first.directory)
    assert again.written == ()
    assert (first.config).read_text() == "cluster = 'edited'\n"
    forced = confdir.create(first.directory, force=True)
    assert [p.name for p in forced.written] == ["dualbeat.toml"]
    assert (first.directory / "heartbeat.key").read_bytes() == key


def test_the_next_steps_copy_the_one_directory_to_the_other_server(tmp_path: Path) -> None:
    created = confdir.create(tmp_path / "d")
    steps = confdir.next_steps(created)
    assert f"scp -rp {created.directory}/. OTHER-SERVER:{created.directory}/" in steps
    assert "SAME heartbeat key" in steps
    assert "repl setup --create-agent-user" in steps


def test_init_on_a_missing_directory_works_from_the_cli(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from dualbeat.cli import cli

    target = tmp_path / "etc" / "dualbeat"
    result = CliRunner().invoke(cli, ["init", str(target)])
    assert result.exit_code == 0, result.output
    assert "SAME heartbeat key" in result.output
    assert mode(target / "heartbeat.key") == 0o600


def test_check_config_on_a_host_that_is_neither_node(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from dualbeat.cli import cli

    created = confdir.create(tmp_path / "d")  # the example's nodes are 192.0.2.11 and .12
    result = CliRunner().invoke(cli, ["check-config", str(created.config)])
    assert result.exit_code == 0, result.output
    assert "this host is neither node" in result.output
    strict = CliRunner().invoke(cli, ["check-config", "--node", "db1", str(created.config)])
    assert strict.exit_code == 2
    assert "not an address of this host" in strict.output


def test_check_config_refuses_an_ipv6_vip_with_the_reason(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from dualbeat.cli import cli

    created = confdir.create(tmp_path / "d")
    text = created.config.read_text().replace('"192.0.2.100/24"', '"2001:db8::100/64"')
    created.config.write_text(text)
    result = CliRunner().invoke(cli, ["check-config", str(created.config)])
    assert result.exit_code == 2
    assert "vip.address" in result.output
    assert "IPv6 VIPs are not supported yet" in result.output
