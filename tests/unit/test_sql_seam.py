"""The SQL seam holds: no statement is built outside ``dualbeat/mysql/`` or a feature's
``sql.py`` (the package rule of ``dualbeat.mysql``). Every module of the package is read:
the lab lives outside it (``lab/dualbeat_lab``)."""

from __future__ import annotations

import ast
from pathlib import Path

import dualbeat

ROOT = Path(dualbeat.__file__).parent


def _allowed(path: Path) -> bool:
    parts = path.relative_to(ROOT).parts
    return parts[0] == "mysql" or path.name == "sql.py"


def _violations(source: str, where: str) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(source, where)):
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        name = func.id if isinstance(func, ast.Name) else getattr(func, "attr", "")
        literal = any(isinstance(a, ast.Constant) and isinstance(a.value, str) for a in node.args)
        if name == "Statement" or (name in ("query", "execute") and literal):
            found.append(f"{where}:{node.lineno}")
    return found


def test_no_sql_text_outside_the_seam() -> None:
    sources = sorted(p for p in ROOT.rglob("*.py") if not _allowed(p))
    violations = [
        v for p in sources for v in _violations(p.read_text(), str(p.relative_to(ROOT.parent)))
    ]
    assert violations == [], "SQL built outside dualbeat/mysql and */sql.py: " + ", ".join(
        violations
    )


def test_the_gate_sees_planted_sql() -> None:
    planted = 'S = Statement("SELECT 1")\nserver.query("SELECT 2")\nserver.query(S)\n'
    assert _violations(planted, "x.py") == ["x.py:1", "x.py:2"]
