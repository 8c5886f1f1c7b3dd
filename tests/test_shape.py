"""The shape of the shipped package ``dualbeat``: its import graph has no circle, and no
module is over 500 lines (the project's rule: aim for 400, never over 500).

A circle means two modules that cannot be read, tested or imported one without the other;
its shared concept belongs in a module of its own. Every import counts, at any depth (one
hidden in a function is still a dependency), except those under ``if TYPE_CHECKING:``,
which never run and only name types for mypy."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "dualbeat"
MAX_LINES = 500


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _type_checking_only(node: ast.AST) -> bool:
    test = node.test if isinstance(node, ast.If) else None
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def imported_modules(source: str, module: str, is_package: bool, known: set[str]) -> set[str]:
    """The modules of ``known`` that ``source`` (the text of ``module``) imports, relative
    imports resolved. ``from x import y`` counts as importing ``x.y`` when that is a module,
    else ``x``; ``TYPE_CHECKING`` blocks are skipped (their ``else`` is not)."""
    package = module.split(".") if is_package else module.split(".")[:-1]
    found: set[str] = set()

    def visit(node: ast.AST) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and _type_checking_only(child):
                for other in child.orelse:
                    visit_one(other)
            else:
                visit_one(child)

    def visit_one(node: ast.AST) -> None:
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                parent = package[: len(package) - node.level + 1]
                base = ".".join(parent + ([node.module] if node.module else []))
            else:
                base = node.module or ""
            for alias in node.names:
                sub = f"{base}.{alias.name}"
                found.add(sub if sub in known else base)
        visit(node)

    visit(ast.parse(source))
    return {name for name in found if name in known and name != module}


def import_graph() -> dict[str, set[str]]:
    paths = {module_name(p): p for p in PACKAGE.rglob("*.py")}
    known = set(paths)
    return {
        module: imported_modules(path.read_text(), module, path.name == "__init__.py", known)
        for module, path in paths.items()
    }


def circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Every strongly connected group of two or more modules (Tarjan), sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    groups: list[list[str]] = []

    def connect(module: str) -> None:
        index[module] = low[module] = len(index)
        stack.append(module)
        for imported in sorted(graph.get(module, ())):
            if imported not in index:
                connect(imported)
                low[module] = min(low[module], low[imported])
            elif imported in stack:
                low[module] = min(low[module], index[imported])
        if low[module] == index[module]:
            group = []
            while True:
                member = stack.pop()
                group.append(member)
                if member == module:
                    break
            if len(group) > 1:
                groups.append(sorted(group))

    for module in sorted(graph):
        if module not in index:
            connect(module)
    return sorted(groups)


def test_the_package_has_no_import_circle() -> None:
    assert circles(import_graph()) == []


def test_the_circle_finder_sees_what_it_promises() -> None:
    """The gate on planted sources: relative, function-level and ``from pkg import mod``
    imports close a circle; a ``TYPE_CHECKING`` one does not."""
    known = {"p", "p.a", "p.b", "p.c"}
    a = imported_modules("from . import b", "p.a", False, known)
    b = imported_modules("def f():\n    from .c import x\n", "p.b", False, known)
    c = imported_modules("import p.a", "p.c", False, known)
    assert circles({"p.a": a, "p.b": b, "p.c": c}) == [["p.a", "p.b", "p.c"]]
    typing_only = "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import p.a\n"
    c = imported_modules(typing_only, "p.c", False, known)
    assert circles({"p.a": a, "p.b": b, "p.c": c}) == []
    assert imported_modules("from .a import x", "p", True, known) == {"p.a"}
    assert imported_modules("from ..b import x", "p.a", False, known) == set()  # above p


def _lines(path: Path) -> int:
    return len(path.read_text().splitlines())


def test_no_module_is_over_500_lines() -> None:
    long = {
        str(path.relative_to(ROOT)): _lines(path)
        for path in sorted(PACKAGE.rglob("*.py"))
        if _lines(path) > MAX_LINES
    }
    assert long == {}
