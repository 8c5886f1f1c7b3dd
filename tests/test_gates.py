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


#: What ``dualbeat.core`` may import from the standard library: data, types, text. No
#: clocks, randomness, sockets, processes, threads, files or the OS (``time``, ``random``,
#: ``socket``, ``os``, ``subprocess``, ``threading``, ``asyncio``, ``pathlib``, ...): an
#: allow-list, so a module added to the standard library is refused until it is judged.
CORE_STDLIB = frozenset(
    {
        "__future__",
        "abc",
        "collections",
        "collections.abc",
        "dataclasses",
        "enum",
        "functools",
        "itertools",
        "math",
        "operator",
        "re",
        "typing",
    }
)
#: Builtins that reach the outside world (files, the terminal, dynamic imports and code).
CORE_FORBIDDEN_BUILTINS = frozenset(
    {"open", "print", "input", "breakpoint", "exec", "eval", "compile", "__import__"}
)
CORE = "dualbeat.core"


def core_offences(source: str, module: str) -> list[str]:
    """What in ``source`` (the text of core module ``module``) breaks the purity rule:
    imports outside ``CORE_STDLIB`` and ``dualbeat.core`` (relative ones resolved), and
    calls to the builtins that do I/O."""
    package = module.split(".")[:-1]  # a module's package; ``x.__init__`` is package x
    offences = []
    for node in ast.walk(ast.parse(source)):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level > len(package):
                names = ["<above the top package>"]
            elif node.level:
                base = ".".join(package[: len(package) - node.level + 1])
                parts = [node.module] if node.module else [a.name for a in node.names]
                names = [f"{base}.{part}" for part in parts]
            else:
                names = [node.module or ""]
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id in CORE_FORBIDDEN_BUILTINS
        ):
            offences.append(f"{module}:{node.lineno}: calls {node.func.id}()")
        for name in names:
            if not (name == CORE or name.startswith(CORE + ".") or name in CORE_STDLIB):
                offences.append(f"{module}:{getattr(node, 'lineno', 0)}: imports {name}")
    return offences


def test_core_imports_only_data_modules_and_itself() -> None:
    """Rule 1 of dualbeat.core: the decisions stay pure and testable with a fake clock."""
    offenders = []
    for path in sorted((ROOT / "dualbeat" / "core").rglob("*.py")):
        module = ".".join(path.relative_to(ROOT).with_suffix("").parts)
        offenders += core_offences(path.read_text(), module)
    assert offenders == []


def test_the_purity_gate_catches_what_it_promises() -> None:
    """The gate itself, on planted sources: each of these must be refused."""
    planted = [
        "import time",
        "import os.path",
        "import random as r",
        "from socket import socket",
        "from subprocess import run",
        "import threading, asyncio",
        "from datetime import datetime",
        "from pathlib import Path",
        "import shutil",
        "from .. import config",
        "from ..agent import runtime",
        "open('/etc/passwd')",
        "__import__('time')",
    ]
    missed = [src for src in planted if not core_offences(src, CORE + ".decide")]
    assert missed == []
    assert core_offences("from .state import NodeState\nfrom . import lease", CORE + ".x") == []
    assert core_offences("from .roles import Role", CORE + ".__init__") == []
    assert core_offences("from dualbeat.core.gtid import GtidSet", CORE + ".x") == []


def core_import_graph() -> dict[str, set[str]]:
    """Which core module imports which (at any depth in the module: function-level too)."""
    graph: dict[str, set[str]] = {}
    modules = {p.stem for p in (ROOT / "dualbeat" / "core").glob("*.py")}
    for path in sorted((ROOT / "dualbeat" / "core").glob("*.py")):
        edges = graph.setdefault(path.stem, set())
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module == CORE:
                edges |= {a.name for a in node.names if a.name in modules}
            elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith(CORE + "."):
                edges.add((node.module or "").split(".")[2])
            elif isinstance(node, ast.ImportFrom) and node.level == 1:
                edges |= {node.module or a.name for a in node.names}
    return graph


def test_core_has_no_import_circle() -> None:
    graph = core_import_graph()
    circles = []

    def visit(module: str, path: list[str]) -> None:
        for imported in sorted(graph.get(module, ())):
            if imported in path:
                circles.append(" -> ".join([*path[path.index(imported) :], imported]))
            else:
                visit(imported, [*path, imported])

    for module in sorted(graph):
        visit(module, [module])
    assert circles == []
