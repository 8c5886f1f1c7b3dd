"""Two bare "servers" on this machine, for following the README as a new user would.

Why not the lab's sandbox: the sandbox provisions the pair itself (its own accounts, its
own config, the checkout's dualbeat); a new user's servers have nothing but Debian and
MariaDB. Each host here is a network namespace (eth0 on one veth pair, the README's
addresses) plus a private root: an overlay of ``/`` whose writes land in a tmpfs, with an
empty ``/run``, ``/tmp``, ``/var/lib/mysql`` and ``/var/lib/dualbeat``. So ``dpkg -i``,
``/etc/dualbeat``, ``/opt/dualbeat`` and MariaDB's datadir are the host's own and vanish
with it; the machine running the tests is never touched. A holder process keeps the mount
and UTS namespaces alive; commands enter them with ``nsenter`` and ``chroot``.
"""

from __future__ import annotations

import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

#: The holder: mounts the private root, prints its path, then waits to be killed.
HOLDER = """
set -eu
mount --make-rprivate /
T=$(mktemp -d /tmp/dualbeat-host.XXXXXX)
mount -t tmpfs tmpfs "$T"
mkdir -p "$T/upper" "$T/work" "$T/root"
mount -t overlay overlay -o "lowerdir=/,upperdir=$T/upper,workdir=$T/work" "$T/root"
R="$T/root"
mount -t proc proc "$R/proc"
mount -t sysfs sysfs "$R/sys"
mount --rbind /dev "$R/dev"
for d in run tmp var/lib/mysql var/lib/dualbeat; do
    mkdir -p "$R/$d"
    mount -t tmpfs tmpfs "$R/$d"
done
chroot "$R" sh -c 'mkdir -p /run/mysqld && chown mysql:mysql /run/mysqld /var/lib/mysql'
hostname "$NAME"
echo "$R"
exec sleep infinity
"""


@dataclass
class Host:
    name: str
    address: str
    holder: subprocess.Popen[str]
    root: Path  # the private root, as seen inside the holder's mount namespace

    def run(self, script: str, timeout: float = 120, check: bool = True) -> str:
        """Run a bash script in this host (its network, mounts, hostname and root)."""
        proc = subprocess.run(
            [
                "nsenter",
                "-t",
                str(self.holder.pid),
                "-n",
                "-m",
                "-u",
                "--",
                "chroot",
                str(self.root),
                "bash",
                "-euo",
                "pipefail",
                "-c",
                script,
            ],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if check and proc.returncode != 0:
            raise AssertionError(
                f"{self.name}: exit {proc.returncode}\n$ {script}\n{proc.stdout}{proc.stderr}"
            )
        return proc.stdout + proc.stderr

    def spawn(self, script: str, log: str) -> None:
        """Start a long-running command (a daemon) in this host, detached, output to log."""
        self.run(f"setsid bash -c {_quote(script)} >{log} 2>&1 < /dev/null &")

    def copy_in(self, source: Path, dest: str) -> None:
        subprocess.run(
            [
                "nsenter",
                "-t",
                str(self.holder.pid),
                "-m",
                "--",
                "cp",
                "-a",
                str(source),
                f"{self.root}{dest}",
            ],
            check=True,
            timeout=60,
        )

    def copy_tree_to(self, other: Host, path: str) -> None:
        """``scp -rp PATH/. other:PATH/``: the same files, modes kept."""
        data = subprocess.run(
            [
                "nsenter",
                "-t",
                str(self.holder.pid),
                "-m",
                "--",
                "tar",
                "-C",
                f"{self.root}{path}",
                "-cpf",
                "-",
                ".",
            ],
            capture_output=True,
            check=True,
            timeout=60,
        ).stdout
        subprocess.run(
            [
                "nsenter",
                "-t",
                str(other.holder.pid),
                "-m",
                "--",
                "tar",
                "-C",
                f"{other.root}{path}",
                "-xpf",
                "-",
            ],
            input=data,
            check=True,
            timeout=60,
        )


def _quote(text: str) -> str:
    return "'" + text.replace("'", "'\"'\"'") + "'"


def sh(*argv: str, check: bool = True) -> None:
    subprocess.run(argv, check=check, timeout=60, capture_output=True)


def make_pair(prefix: str, addresses: dict[str, str], prefixlen: int) -> list[Host]:
    """Two hosts named after ``addresses``' keys, their eth0 joined by one veth pair."""
    (a, b) = addresses
    netns = {name: f"{prefix}-{name}" for name in addresses}
    for ns in netns.values():
        _remove_stale(ns)  # left by a run that was killed before its cleanup
        sh("ip", "netns", "add", ns)
    sh("ip", "link", "add", f"{prefix}a", "type", "veth", "peer", "name", f"{prefix}b")
    for name, end in ((a, f"{prefix}a"), (b, f"{prefix}b")):
        ns = netns[name]
        sh("ip", "link", "set", end, "netns", ns)
        sh("ip", "-n", ns, "link", "set", end, "name", "eth0")
        sh("ip", "-n", ns, "addr", "add", f"{addresses[name]}/{prefixlen}", "dev", "eth0")
        sh("ip", "-n", ns, "link", "set", "eth0", "up")
        sh("ip", "-n", ns, "link", "set", "lo", "up")
    hosts = []
    for name, address in addresses.items():
        holder = subprocess.Popen(
            [
                "ip",
                "netns",
                "exec",
                netns[name],
                "unshare",
                "--mount",
                "--uts",
                "--fork",
                "--kill-child",
                "bash",
                "-c",
                HOLDER,
            ],
            stdout=subprocess.PIPE,
            text=True,
            env={"NAME": name, "PATH": "/usr/sbin:/usr/bin:/sbin:/bin"},
        )
        assert holder.stdout is not None
        line = holder.stdout.readline().strip()
        assert line.startswith("/"), (
            f"{name}: the host did not come up (holder exit {holder.poll()})"
        )
        root = Path(line)
        hosts.append(Host(name, address, holder, root))
    return hosts


def _remove_stale(ns: str) -> None:
    names = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, check=False)
    if ns not in names.stdout.split():
        return
    pids = subprocess.run(["ip", "netns", "pids", ns], capture_output=True, text=True, check=False)
    if pids.stdout.split():
        subprocess.run(["kill", "-9", *pids.stdout.split()], check=False)
        time.sleep(0.5)
    sh("ip", "netns", "del", ns, check=False)


def destroy(prefix: str, hosts: list[Host]) -> None:
    """Kill every process in the hosts' network namespaces, then remove them."""
    for host in hosts:
        ns = f"{prefix}-{host.name}"
        pids = subprocess.run(
            ["ip", "netns", "pids", ns], capture_output=True, text=True, check=False
        ).stdout.split()
        if pids:
            subprocess.run(["kill", "-9", *pids], check=False)
        host.holder.kill()
        host.holder.wait(timeout=30)
    time.sleep(0.5)
    for host in hosts:
        sh("ip", "netns", "del", f"{prefix}-{host.name}", check=False)
