"""TCP reachability seen from inside a lab namespace.

Why a child process: Python 3.11 has no ``os.setns``, and switching the namespace of a
thread of a multi-threaded program is fragile; ``ip netns exec NS python -c ...`` costs a few
tens of milliseconds and sees exactly what a client in that namespace sees.

A target is *reachable* when the TCP handshake completes or is refused (a RST proves the
path works even where nothing listens); a MySQL greeting additionally proves a server
answers. A frozen server accepts the connection but never greets: that shows as a timeout.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from dualbeat_lab.sandbox import netns

_SCRIPT = r"""
import json, socket, sys
timeout = float(sys.argv[1])
out = {}
for target in sys.argv[2:]:
    host, port = target.rsplit(":", 1)
    try:
        with socket.create_connection((host, int(port)), timeout=timeout) as s:
            s.settimeout(timeout)
            data = s.recv(256)
        if len(data) > 5 and data[4] == 10:
            out[target] = ["greeting", data[5:data.index(b"\0", 5)].decode(errors="replace")]
        elif len(data) > 7 and data[4] == 0xFF:
            out[target] = ["error", data[7:].decode(errors="replace")]
        else:
            out[target] = ["error", "unexpected greeting %r" % data[:16]]
    except ConnectionRefusedError:
        out[target] = ["refused", "connection refused"]
    except OSError as exc:
        out[target] = ["error", str(exc) or type(exc).__name__]
print(json.dumps(out))
"""


@dataclass(frozen=True)
class Reach:
    """What a TCP connection from a namespace to ``target`` (host:port) found."""

    target: str
    outcome: str  # "greeting", "refused" or "error"
    detail: str

    @property
    def reachable(self) -> bool:
        return self.outcome in ("greeting", "refused")

    @property
    def greeted(self) -> bool:
        return self.outcome == "greeting"


def tcp_probe(ns: str, targets: Sequence[str], timeout: float = 2.0) -> dict[str, Reach]:
    """Connect from namespace ``ns`` to each ``host:port``; one child process for all."""
    if not netns.namespace_exists(ns):
        return {t: Reach(t, "error", f"namespace {ns} does not exist") for t in targets}
    proc = netns.run_in(
        ns,
        [sys.executable, "-c", _SCRIPT, str(timeout), *targets],
        check=False,
        timeout=timeout * len(targets) + 10,
    )
    try:
        raw: dict[str, list[str]] = json.loads(proc.stdout)
    except ValueError:
        detail = proc.stderr.strip() or f"probe exited {proc.returncode}"
        return {t: Reach(t, "error", detail) for t in targets}
    return {t: Reach(t, *raw.get(t, ["error", "no answer from probe"])) for t in targets}


_HTTP_SCRIPT = r"""
import json, sys, urllib.request
timeout = float(sys.argv[1])
out = {}
for url in sys.argv[2:]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as answer:
            out[url] = [True, answer.read(200).decode(errors="replace")]
    except Exception as exc:
        out[url] = [False, str(getattr(exc, "reason", exc)) or type(exc).__name__]
print(json.dumps(out))
"""


def http_probe(ns: str, urls: Sequence[str], timeout: float = 2.0) -> dict[str, tuple[bool, str]]:
    """GET each URL from namespace ``ns``: (answered 2xx, body or error), one child for all."""
    if not netns.namespace_exists(ns):
        return dict.fromkeys(urls, (False, f"namespace {ns} does not exist"))
    proc = netns.run_in(
        ns,
        [sys.executable, "-c", _HTTP_SCRIPT, str(timeout), *urls],
        check=False,
        timeout=timeout * len(urls) + 10,
    )
    try:
        raw: dict[str, list[Any]] = json.loads(proc.stdout)
    except ValueError:
        detail = proc.stderr.strip() or f"probe exited {proc.returncode}"
        return dict.fromkeys(urls, (False, detail))
    return {
        u: (bool(raw[u][0]), str(raw[u][1])) if u in raw else (False, "no answer") for u in urls
    }
