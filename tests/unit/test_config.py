"""Config loading: every class of error gives one message naming the file, the key and the line."""

from __future__ import annotations

import os
import re
import tomllib
from pathlib import Path

import pytest
from click.testing import CliRunner

import dualbeat
from dualbeat.cli import cli
from dualbeat.config import (
    Config,
    load,
    loads,
    local_node,
    locate,
    parse_duration,
    safety_warnings,
)
from dualbeat.errors import ConfigError

BASE = """\
cluster = "orders"

[[nodes]]
name = "db1"
address = "10.1.0.11"

[[nodes]]
name = "db2"
address = "10.1.0.12"
mysql_port = 3307

[mysql]
user = "dualbeat"
password_file = "{dir}/mysql.pass"

[replication]
user = "repl"
password = "secret"

[vip]
address = "10.1.0.100/24"
interface = "eth0"

[heartbeat]
key_file = "{dir}/hb.key"
keepalive = "200ms"
deadtime = "1.5s"

[[heartbeat.links]]
name = "lan"
addresses = {{ db1 = "10.1.0.11", db2 = "10.1.0.12" }}

[monitor]
interval = "200ms"
"""


@pytest.fixture
def secrets(tmp_path: Path) -> Path:
    key = tmp_path / "hb.key"
    key.write_bytes(os.urandom(32))
    key.chmod(0o600)
    pw = tmp_path / "mysql.pass"
    pw.write_text("pw\n")
    pw.chmod(0o600)
    return tmp_path


def write(dir: Path, text: str) -> Path:
    path = dir / "dualbeat.toml"
    path.write_text(text.format(dir=dir))
    return path


def error_of(path: Path) -> str:
    with pytest.raises(ConfigError) as info:
        load(path)
    return str(info.value)


def line_of(text: str, needle: str) -> int:
    return next(i for i, line in enumerate(text.splitlines(), 1) if needle in line)


def test_valid_config_loads_with_defaults(secrets: Path) -> None:
    config = load(write(secrets, BASE))
    assert config.cluster == "orders"
    assert config.node("db2").mysql_port == 3307
    assert config.heartbeat.keepalive == pytest.approx(0.2)
    assert config.heartbeat.warntime == pytest.approx(0.6)
    assert config.heartbeat.initdead == pytest.approx(10.0)
    assert config.monitor.alert_after == 3
    assert config.mysql.secret() == "pw"
    assert config.replication.secret() == "secret"
    assert config.peer_of("db1").name == "db2"
    assert [link.name for link in config.heartbeat_links()] == ["lan"]


def test_unknown_key_names_file_key_and_line(secrets: Path) -> None:
    text = BASE.replace('interface = "eth0"', 'interface = "eth0"\ninterfce = "eth1"')
    path = write(secrets, text)
    msg = error_of(path)
    assert (
        msg == f"{path}:{line_of(text, 'interfce')}: vip.interfce: unknown key "
        "(check the spelling; see `dualbeat init` for every key)"
    )


def test_unknown_key_inside_second_node_points_at_that_node(secrets: Path) -> None:
    text = BASE.replace("mysql_port = 3307", "mysql_port = 3307\nmysql_prot = 1")
    msg = error_of(write(secrets, text))
    assert f":{line_of(text, 'mysql_prot')}: nodes.1.mysql_prot: unknown key" in msg


def test_wrong_type_names_key_and_line(secrets: Path) -> None:
    text = BASE.replace("mysql_port = 3307", 'mysql_port = "three"')
    msg = error_of(write(secrets, text))
    assert re.search(rf":{line_of(text, 'three')}: nodes\.1\.mysql_port: .*integer", msg), msg


def test_bad_duration_is_explained(secrets: Path) -> None:
    text = BASE.replace('keepalive = "200ms"', 'keepalive = "fast"')
    msg = error_of(write(secrets, text))
    assert (
        f":{line_of(text, 'fast')}: heartbeat.keepalive: expected a duration such as 200ms" in msg
    )


def test_missing_required_key(secrets: Path) -> None:
    text = BASE.replace('cluster = "orders"\n', "")
    msg = error_of(write(secrets, text))
    assert msg.endswith(":1: cluster: required key is missing")


def test_missing_config_file(tmp_path: Path) -> None:
    path = tmp_path / "nope.toml"
    assert error_of(path) == f"{path}: configuration file not found"


def test_invalid_toml_names_line(secrets: Path) -> None:
    text = BASE.replace('user = "repl"', 'user = "repl')
    msg = error_of(write(secrets, text))
    assert f":{line_of(text, 'user = ' + chr(34) + 'repl')}: not valid TOML" in msg


def test_missing_key_file(secrets: Path) -> None:
    (secrets / "hb.key").unlink()
    text = BASE
    msg = error_of(write(secrets, text))
    assert msg.endswith(
        f":{line_of(text, 'key_file')}: heartbeat.key_file: file {secrets}/hb.key does not exist"
    )


def test_key_file_readable_by_others(secrets: Path) -> None:
    (secrets / "hb.key").chmod(0o644)
    msg = error_of(write(secrets, BASE))
    assert "heartbeat.key_file:" in msg
    assert "accessible by group or others (mode 0644); run: chmod 600" in msg


def test_password_file_readable_by_group(secrets: Path) -> None:
    (secrets / "mysql.pass").chmod(0o640)
    msg = error_of(write(secrets, BASE))
    assert f":{line_of(BASE, 'password_file')}: mysql.password_file:" in msg
    assert "(mode 0640)" in msg


def test_short_key_file(secrets: Path) -> None:
    (secrets / "hb.key").write_bytes(b"short")
    msg = error_of(write(secrets, BASE))
    assert "heartbeat.key_file:" in msg and "holds 5 bytes" in msg


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (
            ('deadtime = "1.5s"', 'deadtime = "300ms"'),
            "deadtime (0.3s) must be at least 2 x keepalive (0.2s)",
        ),
        (
            ('deadtime = "1.5s"', 'deadtime = "1.5s"\nwarntime = "2s"'),
            "need keepalive < warntime < deadtime",
        ),
        (
            ('deadtime = "1.5s"', 'deadtime = "1.5s"\ninitdead = "1s"'),
            "initdead (1s) must be at least deadtime",
        ),
    ],
)
def test_impossible_heartbeat_timings(
    secrets: Path, change: tuple[str, str], expected: str
) -> None:
    text = BASE.replace(*change)
    msg = error_of(write(secrets, text))
    assert f":{line_of(text, '[heartbeat]')}: heartbeat: {expected}" in msg


def test_probe_timeout_longer_than_interval(secrets: Path) -> None:
    text = BASE + 'query_timeout = "500ms"\n'
    msg = error_of(write(secrets, text))
    assert "monitor: query_timeout (0.5s) must not exceed interval (0.2s)" in msg
    assert f":{line_of(text, '[monitor]')}:" in msg


def test_both_password_and_file(secrets: Path) -> None:
    text = BASE.replace('password = "secret"', 'password = "secret"\npassword_file = "/x"')
    msg = error_of(write(secrets, text))
    assert "replication: give exactly one of 'password' or 'password_file'" in msg


def test_three_nodes_rejected(secrets: Path) -> None:
    text = BASE.replace("[mysql]", '[[nodes]]\nname = "db3"\naddress = "10.1.0.13"\n\n[mysql]')
    assert "nodes: a dual-master pair has exactly 2 [[nodes]], found 3" in error_of(
        write(secrets, text)
    )


def test_link_must_cover_both_nodes(secrets: Path) -> None:
    text = BASE.replace('db2 = "10.1.0.12" }}', 'db3 = "10.1.0.12" }}')
    msg = error_of(write(secrets, text))
    assert "heartbeat link 'lan' must give an address for exactly ['db1', 'db2']" in msg


def test_node_name_matching_no_local_address(secrets: Path) -> None:
    config = load(write(secrets, BASE))
    with pytest.raises(
        ConfigError,
        match=r"node 'db1' has address 10\.1\.0\.11, which is not an address of this host",
    ):
        local_node(config, {"127.0.0.1", "10.9.9.9"}, "db1")
    with pytest.raises(
        ConfigError, match=r"none of the nodes \(db1=10\.1\.0\.11, db2=10\.1\.0\.12\) match"
    ):
        local_node(config, {"127.0.0.1"})
    assert local_node(config, {"127.0.0.1", "10.1.0.12"}).name == "db2"


def test_check_config_cli_exit_code_and_message(secrets: Path) -> None:
    text = BASE.replace("[monitor]", "[monitr]")
    path = write(secrets, text)
    result = CliRunner().invoke(cli, ["check-config", str(path)])
    assert result.exit_code == 2
    assert f"{path}:{line_of(text, '[monitr]')}: monitr: unknown key" in result.output


def test_check_config_cli_ok_without_local_check(secrets: Path) -> None:
    result = CliRunner().invoke(
        cli, ["check-config", "--no-local-check", str(write(secrets, BASE))]
    )
    assert result.exit_code == 0, result.output
    assert "OK (cluster 'orders', nodes db1, db2)" in result.output


def test_init_writes_an_example_that_parses(tmp_path: Path) -> None:
    target = tmp_path / "example.toml"
    runner = CliRunner()
    assert runner.invoke(cli, ["init", str(target)]).exit_code == 0
    again = runner.invoke(cli, ["init", str(target)])
    assert again.exit_code == 2 and "exists; use --force" in again.output
    # The example names files that do not exist here; every other key must validate.
    with pytest.raises(
        ConfigError, match=r"heartbeat\.key_file: file /etc/dualbeat/heartbeat\.key does not exist"
    ):
        load(target)


@pytest.mark.parametrize(
    ("value", "seconds"),
    [(1, 1.0), (0.25, 0.25), ("200ms", 0.2), ("1.5s", 1.5), ("2m", 120.0), ("3", 3.0)],
)
def test_durations(value: object, seconds: float) -> None:
    assert parse_duration(value) == pytest.approx(seconds)


@pytest.mark.parametrize("value", ["", "fast", "-1s", 0, True, "1h"])
def test_bad_durations(value: object) -> None:
    with pytest.raises(ValueError, match="duration"):
        parse_duration(value)


def test_locate_finds_keys_in_array_of_tables() -> None:
    text = BASE.format(dir="/d")
    assert locate(text, ("nodes", 1, "mysql_port")) == line_of(text, "mysql_port = 3307")
    assert locate(text, ("nodes", 0, "name")) == line_of(text, 'name = "db1"')
    assert locate(text, ("heartbeat", "links", 0, "addresses", "db2")) == line_of(
        text, "addresses ="
    )
    assert locate(text, ("monitor",)) == line_of(text, "[monitor]")


def test_loads_without_files_reports_memory_source() -> None:
    with pytest.raises(ConfigError, match=r"^<memory>:1: not valid TOML"):
        loads("= broken")


# ---------------------------------------------------------------- arbiter, ping, watchdog, fence

ARBITER = """
[arbiter]
endpoints = ["http://10.1.0.5:2379", "https://etcd.example:2379/"]
ttl = "3s"
timeout = "500ms"
"""


def test_split_brain_sections_default_to_classic_mode(secrets: Path) -> None:
    config = load(write(secrets, BASE))
    assert config.arbiter is None
    assert config.ping.nodes == ()
    assert config.ping.interval == pytest.approx(1.0)
    assert not config.watchdog.enabled
    assert config.watchdog.device == Path("/dev/watchdog")
    assert config.watchdog.timeout == pytest.approx(5.0)
    assert config.fence.command == "" and config.fence.argv() == []
    assert not config.fence.required
    assert config.fence.timeout == pytest.approx(10.0)


def test_arbiter_section_loads_with_derived_key(secrets: Path) -> None:
    config = load(write(secrets, BASE + ARBITER))
    assert config.arbiter is not None
    assert config.arbiter.kind == "etcd"
    assert config.arbiter.endpoints == ("http://10.1.0.5:2379", "https://etcd.example:2379")
    assert config.arbiter.key == "/dualbeat/orders/active"
    assert config.arbiter.ttl == pytest.approx(3.0)
    assert config.arbiter.timeout == pytest.approx(0.5)


def test_arbiter_key_can_be_given(secrets: Path) -> None:
    text = BASE + ARBITER + 'key = "/ha/orders/leader"\n'
    config = load(write(secrets, text))
    assert config.arbiter is not None and config.arbiter.key == "/ha/orders/leader"


@pytest.mark.parametrize(
    ("line", "needle"),
    [
        ('endpoints = ["10.1.0.5:2379"]', "expected an http:// or https:// URL"),
        ('endpoints = ["ftp://10.1.0.5:2379"]', "expected an http:// or https:// URL"),
        ('endpoints = ["http://10.1.0.5"]', "give the port"),
        ('endpoints = ["http://10.1.0.5:2379/v3"]', "without a path"),
        ('endpoints = ["http://10.1.0.5:99999"]', "is not a valid URL"),
    ],
)
def test_bad_arbiter_endpoint_names_key_and_line(secrets: Path, line: str, needle: str) -> None:
    text = BASE + ARBITER.replace(ARBITER.splitlines()[2], line)
    path = write(secrets, text)
    msg = error_of(path)
    assert msg.startswith(f"{path}:{line_of(text, 'endpoints =')}: arbiter.endpoints.0: "), msg
    assert needle in msg


def test_arbiter_needs_an_endpoint(secrets: Path) -> None:
    text = BASE + ARBITER.replace(ARBITER.splitlines()[2], "endpoints = []")
    msg = error_of(write(secrets, text))
    assert f":{line_of(text, 'endpoints =')}: arbiter.endpoints: " in msg


@pytest.mark.parametrize(
    ("ttl", "timeout", "needle"),
    [
        ('"2.5s"', '"500ms"', "ttl must be a whole number of seconds, got 2.5s"),
        ('"1s"', '"100ms"', "ttl (1s) must be at least 2s"),
        ('"3s"', '"1.5s"', "timeout (1.5s) must be at most ttl/3 (1s)"),
    ],
)
def test_arbiter_timings_are_checked(secrets: Path, ttl: str, timeout: str, needle: str) -> None:
    text = BASE + ARBITER.replace('"3s"', ttl).replace('"500ms"', timeout)
    msg = error_of(write(secrets, text))
    assert f":{line_of(text, '[arbiter]')}: arbiter: {needle}" in msg, msg


def test_unknown_arbiter_kind_is_rejected(secrets: Path) -> None:
    text = BASE + ARBITER + 'kind = "zookeeper"\n'
    msg = error_of(write(secrets, text))
    assert f":{line_of(text, 'zookeeper')}: arbiter.kind: Input should be 'etcd'" in msg


def test_ping_nodes_must_be_addresses(secrets: Path) -> None:
    ok = load(write(secrets, BASE + '[ping]\nnodes = ["10.1.0.1", "10.1.0.5"]\ninterval = "2s"\n'))
    assert [str(a) for a in ok.ping.nodes] == ["10.1.0.1", "10.1.0.5"]
    assert ok.ping.interval == pytest.approx(2.0)
    text = BASE + '[ping]\nnodes = ["gateway"]\n'
    msg = error_of(write(secrets, text))
    assert f":{line_of(text, 'gateway')}: ping.nodes.0: " in msg


def test_watchdog_timeout_is_whole_seconds_in_range(secrets: Path) -> None:
    ok = load(write(secrets, BASE + '[watchdog]\nenabled = true\ndevice = "/tmp/wd"\n'))
    assert ok.watchdog.enabled and ok.watchdog.device == Path("/tmp/wd")
    for value, needle in (('"1.5s"', "whole number"), ('"1s"', "between 2s and 600s")):
        text = BASE + f"[watchdog]\ntimeout = {value}\n"
        msg = error_of(write(secrets, text))
        assert f":{line_of(text, '[watchdog]')}: watchdog: " in msg and needle in msg, msg


def test_fence_command_is_split_and_must_exist(secrets: Path) -> None:
    ok = load(write(secrets, BASE + "[fence]\ncommand = \"true --host 'db 1'\"\nrequired = true\n"))
    assert ok.fence.argv() == ["true", "--host", "db 1"]
    assert ok.fence.required
    text = BASE + '[fence]\ncommand = "/nonexistent/fence-db"\n'
    path = write(secrets, text)
    assert error_of(path) == (
        f"{path}:{line_of(text, 'command =')}: fence.command: /nonexistent/fence-db is not an "
        "executable file (give its absolute path, or a program on PATH)"
    )


def test_required_fence_needs_a_command(secrets: Path) -> None:
    text = BASE + "[fence]\nrequired = true\n"
    msg = error_of(write(secrets, text))
    assert f":{line_of(text, '[fence]')}: fence: required = true needs a command" in msg


def test_fence_command_with_unbalanced_quote(secrets: Path) -> None:
    text = BASE + '[fence]\ncommand = "fence \'db1"\n'
    msg = error_of(write(secrets, text))
    assert f":{line_of(text, 'command =')}: fence.command: cannot split the command" in msg


def test_example_commented_split_brain_sections_are_valid() -> None:
    """`dualbeat init` documents [arbiter]/[ping]/[watchdog]/[fence] as comments; they must load."""
    text = (Path(dualbeat.__file__).parent / "example.toml").read_text()
    head, sections = text.split("\n[state]\n")
    sections = re.sub(r"(?m)^# (\[(?:arbiter|ping|watchdog|fence)\]|[a-z_]+ = )", r"\1", sections)
    config = Config.model_validate(tomllib.loads(f"{head}\n[state]\n{sections}"))
    assert config.arbiter is not None and config.arbiter.key == "/dualbeat/orders/active"
    assert len(config.arbiter.endpoints) == 3
    assert [str(a) for a in config.ping.nodes] == ["192.0.2.1"]
    assert config.watchdog.timeout == pytest.approx(5.0)
    assert config.fence.argv() == ["/etc/dualbeat/fence-ipmi", "--host", "db1-bmc"]


def test_classic_mode_warns_which_faults_give_two_writers(secrets: Path) -> None:
    path = write(secrets, BASE)
    warnings = safety_warnings(load(path))
    assert [w.section for w in warnings] == ["arbiter", "arbiter"]
    assert "partition between db1 and db2" in warnings[0].risk
    assert "paused longer than deadtime" in warnings[1].risk
    assert all("[arbiter]" in w.fix and "etcd" in w.fix for w in warnings)
    result = CliRunner().invoke(cli, ["check-config", "--no-local-check", str(path)])
    assert result.exit_code == 0, result.output
    assert f"{path}: warning: [arbiter] classic two-node mode: a partition" in result.output
    assert "fix: add an [arbiter] section pointing at an etcd cluster" in result.output


def test_arbiter_mode_has_no_two_writer_warning(secrets: Path) -> None:
    path = write(secrets, BASE + ARBITER)
    assert safety_warnings(load(path)) == []
    result = CliRunner().invoke(cli, ["check-config", "--no-local-check", str(path)])
    assert result.exit_code == 0 and "warning" not in result.output
