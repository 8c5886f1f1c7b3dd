"""The lab writer's connection profiles: what applications run with is what benches measure."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from dualbeat_lab.writer import BENCH_PROFILES, KeySpace, Profile, Writer, command


def params(profile: Profile) -> dict[str, object]:
    return Writer("10.0.0.1", "app", "pw", profile=profile)._params


def test_tight_is_the_default_and_driver_defaults_never_times_out_a_read() -> None:
    assert params(Profile.TIGHT) == Writer("10.0.0.1", "app", "pw")._params
    tight = params(Profile.TIGHT)
    assert (tight["connect_timeout"], tight["read_timeout"], tight["write_timeout"]) == (0.5, 2, 2)
    loose = params(Profile.DRIVER_DEFAULTS)
    assert (loose["connect_timeout"], loose["read_timeout"], loose["write_timeout"]) == (
        10,
        None,
        None,
    )


def test_benches_offer_only_what_applications_run_with() -> None:
    assert Profile.TEST_BOUNDS not in BENCH_PROFILES
    assert Profile.TEST_BOUNDS.read_timeout is not None  # a test never waits for ever


@pytest.mark.parametrize("profile", list(Profile))
def test_the_command_carries_the_profile_and_key_space(profile: Profile) -> None:
    argv = command(
        "10.77.0.100", Path("/pw"), Path("/log"), 30, name="w1",
        keys=KeySpace.PER_WRITER, profile=profile,
    )  # fmt: skip
    assert argv[argv.index("--profile") + 1] == profile.value
    assert argv[argv.index("--keys") + 1] == "per-writer"
    assert argv[argv.index("--name") + 1] == "w1"
    assert "dualbeat_lab.writer" in argv


def test_sigterm_ends_a_writer_waiting_on_a_silent_server(tmp_path: Path) -> None:
    """driver-defaults waits 10 s for a greeting and for ever for an answer: a drill's SIGTERM
    must still end the writer at once, or every bench run with that profile would hang."""
    silent = socket.create_server(("127.0.0.1", 0))  # accepts (backlog), never greets
    port = silent.getsockname()[1]
    (tmp_path / "pw").write_text("pw\n")
    argv = [
        sys.executable, "-m", "dualbeat_lab.writer", "--host", "127.0.0.1", "--port", str(port),
        "--user", "app", "--password-file", str(tmp_path / "pw"), "--duration", "60",
        "--log", str(tmp_path / "log"), "--profile", "driver-defaults",
    ]  # fmt: skip
    with silent, subprocess.Popen(argv, stderr=subprocess.PIPE, text=True) as proc:
        try:
            deadline = time.monotonic() + 30
            while not _connected(port) and time.monotonic() < deadline:  # awaits the greeting
                time.sleep(0.05)
            proc.send_signal(signal.SIGTERM)
            code = proc.wait(timeout=8)  # well under the 10 s connect timeout
        finally:
            proc.kill()  # a writer that ignored SIGTERM would outlive the test
        assert code == 0, proc.stderr.read() if proc.stderr else ""


def test_sigterm_ends_a_writer_in_a_long_pause(tmp_path: Path) -> None:
    """Between attempts the writer sleeps; a SIGTERM there ends it at once, not after the
    pause. The handler only sets a flag and raises: an ``Event.set()`` in a handler once
    deadlocked a writer whose main thread held that Event's lock (a CI run hung on it)."""
    closed = socket.create_server(("127.0.0.1", 0))
    port = closed.getsockname()[1]
    closed.close()  # refused at once: setup fails and pauses for the interval
    (tmp_path / "pw").write_text("pw\n")
    argv = [
        sys.executable, "-m", "dualbeat_lab.writer", "--host", "127.0.0.1", "--port", str(port),
        "--user", "app", "--password-file", str(tmp_path / "pw"), "--duration", "120",
        "--interval", "60", "--log", str(tmp_path / "log"), "--profile", "tight",
    ]  # fmt: skip
    with subprocess.Popen(argv, stderr=subprocess.PIPE, text=True) as proc:
        try:
            assert proc.stderr is not None
            assert "setup:" in proc.stderr.readline()  # its first try failed: now it pauses
            proc.send_signal(signal.SIGTERM)
            code = proc.wait(timeout=8)  # far under the 60 s pause
        finally:
            proc.kill()
        assert code == 0  # a stop is a normal end, even before the table existed


def _connected(port: int) -> bool:
    """True once a client holds a connection to ``port`` (ss, loopback only)."""
    shown = subprocess.run(
        ["ss", "-Htn", "state", "established", f"dport = :{port}"],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    return bool(shown.stdout.strip())
