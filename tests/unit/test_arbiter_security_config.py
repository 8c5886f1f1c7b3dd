"""The arbiter's TLS and authentication settings are refused when half given."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from dualbeat.arbiter import etcd_wire as wire
from dualbeat.config import ArbiterConfig

KEY = "/dualbeat/orders/active"


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({"cert_file": Path("/c.crt")}, "both cert_file and key_file"),
        ({"user": "root"}, "both user and password_file"),
        ({"ca_file": Path("/ca.crt")}, "need https:// endpoints"),
    ],
)
def test_half_given_security_settings_are_refused(extra: dict[str, object], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        ArbiterConfig(endpoints=("http://192.0.2.5:2379",), key=KEY, **extra)


def test_the_token_comes_from_the_authenticate_answer() -> None:
    assert wire.auth_token({"header": {}, "token": "abc.123"}) == "abc.123"
    with pytest.raises(ValueError, match="no token"):
        wire.auth_token({"error": "authentication failed"})
