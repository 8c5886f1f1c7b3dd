"""`make dist` builds every artifact, and the .deb installs as a DBA would install it.

Why a throw-away root: ``dpkg -i`` must run for real (postinstall builds the virtualenv,
dpkg applies modes and owners, man-db indexes the pages), but never on the machine that
runs the tests. Each install goes into an overlay of ``/`` in a private mount namespace
(``unshare --mount``): the package sees the host's Debian as its base system, every write
lands in a tmpfs that vanishes with the namespace. Needs root; CI builds the artifacts
first (``make dist`` in .ci/run), a developer's run builds them when dist/ is stale.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.packaging.conftest import DIST, VERSION

pytestmark = pytest.mark.integration

#: Run inside ``unshare --mount``: an overlay root at $T/root with /proc, /dev and an
#: empty /run and /tmp, the artifact copied into its /tmp; then the script's own lines.
OVERLAY = """
set -eu
mount --make-rprivate /
T=$(mktemp -d)
mount -t tmpfs tmpfs "$T"
mkdir -p "$T/upper" "$T/work" "$T/root"
mount -t overlay overlay -o "lowerdir=/,upperdir=$T/upper,workdir=$T/work" "$T/root"
mount -t proc proc "$T/root/proc"
mount --rbind /dev "$T/root/dev"
mount -t tmpfs tmpfs "$T/root/run"
mount -t tmpfs tmpfs "$T/root/tmp"
cp "$ARTIFACT" "$T/root/tmp/"
in_root() { chroot "$T/root" "$@"; }
"""


def in_overlay(artifact: Path, script: str) -> str:
    proc = subprocess.run(
        ["unshare", "--mount", "--fork", "bash", "-c", OVERLAY + script],
        env={**os.environ, "ARTIFACT": str(artifact)},
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout


def test_make_dist_builds_every_artifact_of_one_version(dist: dict[str, Path]) -> None:
    for kind, path in dist.items():
        assert path.stat().st_size > 10_000, kind
    here = f"{sys.version_info.major}{sys.version_info.minor}"
    proc = subprocess.run(
        [sys.executable, dist[f"pyz{here}"], "--version"],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
        env={**os.environ, "SHIV_ROOT": str(DIST / "shiv-root")},
    )
    assert proc.stdout.strip() == f"dualbeat, version {VERSION}"


def test_the_deb_installs_runs_verifies_and_removes_cleanly(dist: dict[str, Path]) -> None:
    deb = dist["deb"].name
    out = in_overlay(
        dist["deb"],
        f"""
in_root dpkg -i /tmp/{deb} >/dev/null
echo "version: $(in_root dualbeat --version)"
echo "etc: $(in_root stat -c '%a %U' /etc/dualbeat)"
echo "venv: $(in_root readlink /opt/dualbeat/venv)"
echo "man: $(in_root man -w dualbeat-agent)"
echo "example: $(in_root ls /usr/share/dualbeat/dualbeat.example.toml)"
in_root systemd-analyze verify /usr/lib/systemd/system/dualbeat.service 2>&1 | sed 's/^/verify: /'
in_root touch /etc/dualbeat/dualbeat.toml  # the operator's files keep the directory
in_root dpkg -r dualbeat >/dev/null
echo "removed: $(in_root ls /opt/dualbeat 2>&1 | tr '\\n' ' ')"
echo "kept: $(in_root stat -c '%a' /etc/dualbeat)"
""",
    )
    lines = dict(line.split(": ", 1) for line in out.splitlines())
    assert lines["version"] == f"dualbeat, version {VERSION}"
    assert lines["etc"] == "700 root"
    assert lines["venv"] == f"/opt/dualbeat/venv-{VERSION}"
    assert lines["man"] == "/usr/share/man/man1/dualbeat-agent.1.gz"
    assert "verify" not in lines, out  # systemd-analyze printed nothing: no warning at all
    assert "venv" not in lines["removed"]
    assert lines["kept"] == "700"


def test_the_rpm_carries_the_same_files_and_scripts(dist: dict[str, Path]) -> None:
    if shutil.which("rpm") is None:
        pytest.fail("rpm is missing: run scripts/install-deps")
    listing = subprocess.run(
        ["rpm", "-qlvp", dist["rpm"]], capture_output=True, text=True, check=True
    ).stdout
    assert re.search(r"^drwx------ .* /etc/dualbeat$", listing, re.M)
    assert re.search(r"/usr/bin/dualbeat -> /opt/dualbeat/venv/bin/dualbeat$", listing, re.M)
    for path in ("/usr/lib/systemd/system/dualbeat.service", "/usr/share/man/man1/dualbeat.1.gz"):
        assert path in listing
    scripts = subprocess.run(
        ["rpm", "-qp", "--scripts", dist["rpm"]], capture_output=True, text=True, check=True
    ).stdout
    assert f"version={VERSION}" in scripts
