"""The server process as the kernel shows it: this test's own children stand for mysqld."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import time

from dualbeat.agent.liveness import ProcessState, ServerProcess

LISTENER = (
    "import socket, time\n"
    "s = socket.create_server(('127.0.0.1', 0)); print(s.getsockname()[1], flush=True)\n"
    "time.sleep(60)\n"
)


def _wait_state(process: ServerProcess, wanted: ProcessState) -> ProcessState:
    deadline = time.monotonic() + 5
    while (state := process.state()) is not wanted and time.monotonic() < deadline:
        time.sleep(0.01)
    return state


def test_a_listener_is_found_and_followed_through_stop_and_death() -> None:
    child = subprocess.Popen([sys.executable, "-c", LISTENER], stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout is not None
        port = int(child.stdout.readline())
        process = ServerProcess(port)
        assert process.state() is ProcessState.UNKNOWN
        assert process.find() == child.pid
        assert process.state() is ProcessState.RUNNING
        child.send_signal(signal.SIGSTOP)
        assert _wait_state(process, ProcessState.STOPPED) is ProcessState.STOPPED
        assert process.state().conclusive
        child.send_signal(signal.SIGCONT)
        assert _wait_state(process, ProcessState.RUNNING) is ProcessState.RUNNING
        child.kill()
        child.wait()
        assert process.state() is ProcessState.GONE
        process.forget()
        assert process.pid is None and process.state() is ProcessState.UNKNOWN
    finally:
        child.kill()
        child.wait()


def test_nothing_listening_is_unknown() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # bound, not listening
        process = ServerProcess(port)
        assert process.find() is None
        assert process.state() is ProcessState.UNKNOWN
