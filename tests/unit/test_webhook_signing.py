"""Signed webhooks: a receiver that follows docs/integrations.md accepts what the agent
sends, and rejects a changed body, a wrong secret and an old timestamp."""

from __future__ import annotations

import hashlib
import hmac
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from dualbeat.agent.notify import Delivery, signed
from dualbeat.config import Webhook

SECRET = b"0123456789abcdef-webhook-secret"


def verify(secret: bytes, headers: dict[str, str], body: bytes, now: float) -> bool:
    """The receiver's check, as docs/integrations.md gives it."""
    timestamp = headers["X-Dualbeat-Timestamp"]
    expected = hmac.new(secret, timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    fresh = abs(now - int(timestamp)) <= 300
    return fresh and hmac.compare_digest(headers["X-Dualbeat-Signature"], f"sha256={expected}")


def test_the_signature_covers_timestamp_and_exact_body() -> None:
    body, headers = signed({"event": "failover", "node": "db2"}, SECRET, 1_800_000_000.7)
    assert headers["X-Dualbeat-Timestamp"] == "1800000000"
    assert verify(SECRET, headers, body, 1_800_000_010)
    assert not verify(SECRET, headers, body.replace(b"db2", b"db1"), 1_800_000_010)
    assert not verify(b"another secret, sixteen+", headers, body, 1_800_000_010)
    assert not verify(SECRET, headers, body, 1_800_000_000 + 3600)  # a replay an hour later


def test_without_a_secret_nothing_is_signed() -> None:
    _, headers = signed({"event": "fence"}, None, time.time())
    assert "X-Dualbeat-Signature" not in headers


@pytest.fixture
def seen() -> Iterator[tuple[str, list[tuple[dict[str, str], bytes]]]]:
    requests: list[tuple[dict[str, str], bytes]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            requests.append((dict(self.headers.items()), body))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/hook", requests
    server.shutdown()


def test_delivery_sends_what_the_receiver_verifies(
    tmp_path: Path, seen: tuple[str, list[tuple[dict[str, str], bytes]]]
) -> None:
    url, requests = seen
    secret_file = tmp_path / "webhook.key"
    secret_file.write_bytes(SECRET + b"\n")
    d = Delivery(Webhook(url=url, secret_file=secret_file))
    d.thread.start()
    d.put({"event": "failover", "node": "db2", "record": {"code": "PROMOTED"}})
    deadline = time.monotonic() + 10
    while not requests and time.monotonic() < deadline:
        time.sleep(0.02)
    d.close(5.0)
    headers, body = requests[0]
    assert verify(SECRET, headers, body, time.time())
