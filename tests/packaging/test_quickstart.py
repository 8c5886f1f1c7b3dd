"""The README's real-server quick start, followed command by command on two bare hosts.

Why parse the README: a quick start that is only read by people drifts from the program
(a renamed option, a missing step) and the first user finds out. Here every fenced block
of the "Quick start on two real servers" section runs on the hosts its step names ("on
both servers", else db1), in order, with the .deb that ``make dist`` built installed on
two hosts that have nothing else but Debian and MariaDB (see hosts.py). Only three things
are translated, each recognised exactly, so any other change of the README is run as
written: the ``ini`` block goes into the file the step names and MariaDB is started with
it (there is no service manager here), ``scp -rp DIR/. db2:DIR/`` copies between the two
roots, and ``systemctl enable --now dualbeat`` runs the installed unit's ExecStartPre and
ExecStart. After the quick start: a switchover to db2, then a failover (kill -9 of the
active's mariadbd) back to db1.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from dualbeat.agent.actor import RELEASE_GRACE
from tests.packaging.hosts import Host, destroy, make_pair

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
PREFIX = "dbqs"
ADDRESSES = {"db1": "192.0.2.11", "db2": "192.0.2.12"}
VIP = "192.0.2.100"
CONFIG = "/etc/dualbeat/dualbeat.toml"


@dataclass(frozen=True)
class Block:
    step: str  # the step's bold title and its text up to the block
    lang: str
    body: str

    @property
    def on_both(self) -> bool:
        return "on both servers" in self.step


def quick_start() -> list[Block]:
    text = README.read_text()
    section = text.split("## Quick start on two real servers", 1)[1].split("\n## ", 1)[0]
    section = section.split("### ", 1)[0]
    blocks, step = [], ""
    for part in re.split(r"(```\w*\n.*?```)", section, flags=re.S):
        if part.startswith("```"):
            lang, body = part[3:].split("\n", 1)
            blocks.append(Block(step, lang, body.removesuffix("```")))
        elif "**" in part:
            step = part[part.rindex("**", 0, part.rindex("**")) :]
    return blocks


def mysql_settings(block: Block, host: Host) -> tuple[str, str]:
    """(file, text) of the ini block for ``host``: the "N on the other server" values
    taken on db2."""
    path = re.search(r"`(/etc/mysql/[^`]+\.cnf)`", block.step)
    assert path, f"the MySQL settings step names no file: {block.step!r}"
    lines = []
    for line in block.body.splitlines():
        other = re.match(r"^(\w+\s*=\s*)\S+(\s*#.*?(\d+) on the other server.*)$", line)
        lines.append(f"{other[1]}{other[3]}{other[2]}" if other and host.name == "db2" else line)
    return path[1], "\n".join(lines) + "\n"


def start_mariadb(host: Host) -> None:
    host.run(
        # As Debian's package does it: no test database.
        "mariadb-install-db --no-defaults --user=mysql --datadir=/var/lib/mysql "
        "--skip-test-db >/dev/null",
        timeout=300,
    )
    host.spawn("exec mariadbd --user=mysql", "/var/log/mariadbd.log")
    wait(lambda: "alive" in host.run("mariadb-admin ping 2>&1 || true"), 60, host.name)


def start_unit(host: Host) -> None:
    """What ``systemctl enable --now dualbeat`` does: the installed unit's commands."""
    unit = host.run("cat /usr/lib/systemd/system/dualbeat.service")
    env = dict(re.findall(r"^Environment=(\w+)=(.*)$", unit, re.M))
    pre = re.search(r"^ExecStartPre=(.+)$", unit, re.M)
    start = re.search(r"^ExecStart=(.+)$", unit, re.M)
    assert pre and start
    exports = " ".join(f"{k}={v!r}" for k, v in env.items())
    host.run(f"export {exports}; {pre[1]}")
    host.spawn(f"export {exports}; exec {start[1]}", "/var/log/dualbeat.log")


def run_block(block: Block, hosts: dict[str, Host]) -> None:
    targets = [hosts["db1"], hosts["db2"]] if block.on_both else [hosts["db1"]]
    for host in targets:
        if block.lang == "ini":
            path, text = mysql_settings(block, host)
            host.run(f"cat > {path} <<'EOF'\n{text}EOF")
            start_mariadb(host)
            continue
        script = []
        for line in block.body.splitlines():
            command = line.split("  #", 1)[0].strip()
            if m := re.fullmatch(r"scp -rp (\S+)/\. db2:(\S+)/", command):
                assert m[1] == m[2], command
                hosts["db1"].copy_tree_to(hosts["db2"], m[1])
            elif command == "systemctl enable --now dualbeat":
                start_unit(host)
            elif command:
                script.append(line)
        if script:
            out = host.run("\n".join(script), timeout=300)
            print(f"--- {host.name}: {block.step[:50]!r}\n{out}")


def wait(condition: object, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if callable(condition) and condition():
            return
        time.sleep(0.5)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def roles(host: Host) -> dict[str, str]:
    """Each node's role as ``host``'s agent sees it."""
    raw = host.run(f"dualbeat status --json -c {CONFIG} 2>/dev/null || true")
    try:
        status = json.loads(raw)
    except json.JSONDecodeError:
        return {}
    return {status["node"]: status["role"], status["peer"]: status["peer_view"]["role"]}


def settled(host: Host, active: str) -> bool:
    other = "db2" if active == "db1" else "db1"
    return roles(host) == {active: "active", other: "standby"}


def holds_vip(host: Host) -> bool:
    return f"inet {VIP}/" in host.run("ip -o addr show dev eth0")


@pytest.fixture
def hosts(dist: dict[str, Path]) -> Iterator[dict[str, Host]]:
    pair = make_pair(PREFIX, ADDRESSES, 24)
    try:
        for host in pair:
            host.copy_in(dist["deb"], "/tmp/dualbeat.deb")
            host.run("dpkg -i /tmp/dualbeat.deb >/dev/null", timeout=300)
        yield {h.name: h for h in pair}
    finally:
        for host in pair:
            print(
                f"--- {host.name} agent log\n"
                + host.run("tail -30 /var/log/dualbeat.log || true", check=False)
            )
        destroy(PREFIX, pair)


def test_the_readme_quick_start_works_as_written(hosts: dict[str, Host]) -> None:
    blocks = quick_start()
    assert [b.lang for b in blocks][:2] == ["ini", "sh"], "the quick start changed shape"
    for block in blocks:
        if "systemctl enable --now dualbeat" in block.body:
            run_block(block, hosts)
            wait(lambda: settled(hosts["db1"], "db1"), 90, "db1 active, db2 standby")
            continue
        run_block(block, hosts)
    db1, db2 = hosts["db1"], hosts["db2"]
    assert holds_vip(db1) and not holds_vip(db2)

    db1.run(f"dualbeat switchover --to db2 -c {CONFIG}", timeout=120)
    wait(lambda: settled(db1, "db2"), 60, "db2 active after the switchover")
    # The old active keeps the released address, ARP-silent and refusing, for the
    # release's grace (actor.RELEASE_GRACE) while clients move; then it is gone.
    assert holds_vip(db2)
    wait(lambda: not holds_vip(db1), RELEASE_GRACE + 3, "the VIP gone from db1")

    # kill -9 of db2's own mariadbd: the pid from its pid file, checked to live in db2's
    # network namespace (the machine's other MariaDB servers share the pid namespace).
    db2.run(
        "pid=$(cat /run/mysqld/mysqld.pid); "
        '[ "$(readlink /proc/$pid/ns/net)" = "$(readlink /proc/self/ns/net)" ]; kill -9 "$pid"'
    )
    wait(lambda: roles(db1).get("db1") == "active", 60, "db1 active after the failover")
    wait(lambda: holds_vip(db1) and not holds_vip(db2), 30, "the VIP on db1 only")
