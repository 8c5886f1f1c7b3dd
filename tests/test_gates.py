"""Quality gates as tests, so the one test command also lints and type-checks."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def run(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, check=False)


def test_ruff_lint() -> None:
    result = run(sys.executable, "-m", "ruff", "check", "dualbeat", "lab", "tests", "bench")
    assert result.returncode == 0, result.stdout + result.stderr


def test_ruff_format() -> None:
    result = run(
        sys.executable, "-m", "ruff", "format", "--check", "dualbeat", "lab", "tests", "bench"
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_mypy_strict() -> None:
    result = run(sys.executable, "-m", "mypy")
    assert result.returncode == 0, result.stdout + result.stderr


def test_core_imports_only_stdlib_and_itself() -> None:
    """Rule 1 of dualbeat.core: the decisions stay pure and testable with a fake clock."""
    offenders = []
    for path in sorted((ROOT / "dualbeat" / "core").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            for name in names:
                top = name.split(".")[0]
                if not (name.startswith("dualbeat.core") or top in sys.stdlib_module_names):
                    offenders.append(f"{path.relative_to(ROOT)}: imports {name}")
    assert offenders == []
