"""Structure-aware fuzzing of the config loader: a Config or a ConfigError naming the file."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dualbeat.config import loads
from dualbeat.errors import ConfigError
from tests.fuzz import targets


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, object], str]:
    directory = tmp_path_factory.mktemp("fuzzconf")
    text = targets.config_files(directory)
    return targets.base_config(directory), text


def test_the_base_document_loads_when_rendered(base: tuple[dict[str, object], str]) -> None:
    doc, text = base
    assert targets.check_config(text) == "loaded"
    assert targets.check_config(targets.render(doc)) == "loaded"  # the renderer is faithful


@settings(max_examples=300, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.integers(min_value=0, max_value=2**64))
def test_mutated_documents_load_or_name_the_file(
    base: tuple[dict[str, object], str], seed: int
) -> None:
    rng = random.Random(seed)
    targets.check_config(targets.render(targets.mutate_config(rng, dict(base[0]))))


@settings(max_examples=300, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.integers(min_value=0, max_value=2**64))
def test_mutated_text_loads_or_names_the_file(
    base: tuple[dict[str, object], str], seed: int
) -> None:
    rng = random.Random(seed)
    data = targets.mutate_bytes(rng, base[1].encode())
    targets.check_config(data.decode("utf-8", errors="replace"), Path("/etc/dualbeat/x.toml"))


@given(st.text(max_size=300))
def test_arbitrary_text_loads_or_names_the_file(text: str) -> None:
    assert targets.check_config(text) in {"loaded", "config_error"}


def test_the_mutators_reach_both_outcomes(base: tuple[dict[str, object], str]) -> None:
    rng = random.Random(3)
    seen = {
        targets.check_config(targets.render(targets.mutate_config(rng, dict(base[0]))))
        for _ in range(500)
    }
    assert seen == {"loaded", "config_error"}


def test_a_nul_byte_in_a_file_name_is_a_config_error(base: tuple[dict[str, object], str]) -> None:
    """Found by bench/fuzz.py: os.stat raised ValueError, which escaped the loader."""
    text = base[1].replace("/hb.key", "/hb\\u0000.key")
    with pytest.raises(ConfigError, match=r"fuzz\.toml:\d+: heartbeat\.key_file: .* not a valid"):
        loads(text, Path("fuzz.toml"))


def test_finding_19_a_number_is_not_an_address(base: tuple[dict[str, object], str]) -> None:
    """Found by the fuzzer (issue 13, item 19): ``address = 1`` loaded as 0.0.0.1."""
    text = base[1].replace('address = "10.1.0.11"', "address = 1", 1)
    assert targets.check_config(text) == "config_error"
