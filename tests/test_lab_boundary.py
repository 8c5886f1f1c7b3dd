"""The lab (lab/dualbeat_lab: sandbox, chaos, drills, figures) never ships in dualbeat's wheel,
and the product never imports it: a production server gets no lab code, and nothing in
``dualbeat`` may depend on the lab being installed (``dualbeat sandbox`` arrives through the
``dualbeat.commands`` entry point group instead)."""

from __future__ import annotations

import ast
import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LAB_NAMES = ("dualbeat_lab", "sandbox", "chaos")


def test_the_wheel_holds_no_lab_module(tmp_path: Path) -> None:
    build = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp_path), str(ROOT)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert build.returncode == 0, build.stdout + build.stderr
    (wheel,) = tmp_path.glob("dualbeat-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert "dualbeat/cli.py" in names or "dualbeat/cli/__init__.py" in names  # a real build
    lab = [n for n in names if any(part in LAB_NAMES for part in Path(n).parts)]
    assert lab == []


def _imported(tree: ast.AST) -> list[str]:
    names: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.append(node.module)
        elif (  # importlib.import_module("dualbeat_lab...") and friends
            isinstance(node, ast.Constant)
            and isinstance(node.value, str)
            and node.value.startswith("dualbeat_lab")
        ):
            names.append(node.value)
    return names


def test_dualbeat_never_imports_the_lab() -> None:
    offenders = [
        f"{path.relative_to(ROOT)}: imports {name}"
        for path in sorted((ROOT / "dualbeat").rglob("*.py"))
        for name in _imported(ast.parse(path.read_text(), str(path)))
        if name.split(".")[0] == "dualbeat_lab"
        or name.startswith(("dualbeat.sandbox", "dualbeat.chaos"))
    ]
    assert offenders == []


def test_the_gate_sees_a_planted_lab_import() -> None:
    """The walk above would catch the ways an import can be written."""
    planted = ast.parse(
        "import dualbeat_lab.sandbox\nfrom dualbeat_lab.chaos import run\n"
        "def f():\n    from dualbeat_lab import cli\n"
    )
    assert _imported(planted) == ["dualbeat_lab.sandbox", "dualbeat_lab.chaos", "dualbeat_lab"]


def test_the_installed_lab_adds_dualbeat_sandbox() -> None:
    """``make deps`` installs the lab; its command arrives through the entry point group."""
    shown = subprocess.run(
        [sys.executable, "-m", "dualbeat", "sandbox", "--help"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert shown.returncode == 0, shown.stderr
    assert "dualbeat-lab" in shown.stdout and "warning" not in shown.stderr
