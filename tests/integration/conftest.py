"""Integration tests need root (namespaces) and MariaDB; skip without them.

CI sets ``DUALBEAT_REQUIRE_INTEGRATION=1``: there a missing prerequisite is a failure, so
an image that lost MariaDB cannot turn the integration suite into a silent green skip.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import IO

import pytest

from dualbeat.config import Config, load
from dualbeat_lab.sandbox import faults, lab
from dualbeat_lab.sandbox.provision import provision

STATE = Path("/var/lib/dualbeat-sandbox")
LAB_LOCK = Path("/tmp/dualbeat-sandbox.lock")

_SEARCH = "/usr/sbin:/usr/bin:/usr/local/sbin:/usr/local/bin:/sbin:/bin"


def missing_prerequisites() -> list[str]:
    """Why the integration tests cannot run here (empty when they can)."""
    missing = []
    if os.geteuid() != 0:
        missing.append("not running as root (network namespaces need it)")
    for prog in ("mariadbd", "mariadb-install-db", "ip"):
        if shutil.which(prog) is None and shutil.which(prog, path=_SEARCH) is None:
            missing.append(f"{prog} not found (apt-get install mariadb-server iproute2)")
    return missing


def require_integration() -> None:
    """Skip the calling test when prerequisites are missing; fail instead under CI."""
    missing = missing_prerequisites()
    if not missing:
        return
    reason = "integration prerequisites missing: " + "; ".join(missing)
    if os.environ.get("DUALBEAT_REQUIRE_INTEGRATION") == "1":
        pytest.fail(reason + " (DUALBEAT_REQUIRE_INTEGRATION=1)", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(autouse=True)
def _integration_prerequisites(request: pytest.FixtureRequest) -> None:
    """Applies ``require_integration`` to every test marked ``integration``."""
    if request.node.get_closest_marker("integration") is not None:
        require_integration()


_held: list[IO[str]] = []  # the lock file, open for the rest of the process


def pytest_collection_finish(session: pytest.Session) -> None:
    """The sandbox is one set of fixed namespaces per machine: concurrent test runs (two
    checkouts, a bench in another shell) take turns on it instead of tearing it down under
    each other. Taken once collection shows integration tests, before any test starts, so
    the wait never counts against a test's timeout; ``flock /tmp/dualbeat-sandbox.lock
    CMD`` takes the same lock from a shell. Released when the process exits."""
    here = Path(__file__).parent
    if _held or not any(here in Path(i.path).parents for i in session.items):
        return
    _held.append(LAB_LOCK.open("a"))
    try:
        fcntl.flock(_held[0], fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        print(f"\nwaiting for the sandbox lock {LAB_LOCK} ...", file=sys.stderr, flush=True)
        fcntl.flock(_held[0], fcntl.LOCK_EX)


@pytest.fixture(scope="module")
def sandbox() -> Iterator[lab.LabInfo]:
    """A provisioned pair (db1 active, no agents) for one test module, removed at its end."""
    require_integration()
    info = provision(STATE, lambda msg: print(msg, file=sys.stderr), with_agents=False)
    yield info
    lab.down(STATE)


@pytest.fixture(scope="module")
def config(sandbox: lab.LabInfo) -> Config:
    return load(sandbox.config_path)


@pytest.fixture
def pair() -> Iterator[lab.LabInfo]:
    """A fresh pair with both agents settled (db1 active with the VIP), for one test;
    every fault undone and the lab removed afterwards."""
    require_integration()
    lab.down(STATE)
    info = provision(STATE, lambda msg: print(msg, file=sys.stderr))
    yield info
    faults.heal_all(info.lab)
    lab.down(STATE)
