"""The artifacts of this checkout, for the tests that install them."""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DIST = ROOT / "dist"
VERSION: str = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
SOURCES = ("dualbeat", "packaging", "deploy", "docs", "pyproject.toml", "README.md")


def artifacts() -> dict[str, Path]:
    return {
        "wheel": DIST / f"dualbeat-{VERSION}-py3-none-any.whl",
        "sdist": DIST / f"dualbeat-{VERSION}.tar.gz",
        "deb": DIST / f"dualbeat_{VERSION}-1_amd64.deb",
        "rpm": DIST / f"dualbeat-{VERSION}-1.x86_64.rpm",
        **{f"pyz{v}": DIST / f"dualbeat-{VERSION}-cp{v}.pyz" for v in ("311", "312", "313")},
    }


def newest_source() -> float:
    paths = [ROOT / s for s in SOURCES]
    files = [f for p in paths for f in ([p] if p.is_file() else p.rglob("*")) if f.is_file()]
    return max(f.stat().st_mtime for f in files if "__pycache__" not in f.parts)


@pytest.fixture(scope="session")
def dist() -> dict[str, Path]:
    """The artifacts of this checkout: rebuilt when any is missing or older than a source."""
    if os.geteuid() != 0:
        pytest.skip("installing the packages needs root (mount namespaces, chroot)")
    found = artifacts()
    if (
        not all(p.exists() for p in found.values())
        or min(p.stat().st_mtime for p in found.values()) < newest_source()
    ):
        env = {**os.environ, "PY": sys.executable}
        subprocess.run([ROOT / "packaging" / "build"], cwd=ROOT, env=env, check=True, timeout=900)
    return found
