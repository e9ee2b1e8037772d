"""The layers of the package, checked by walking every import with ``ast``.

Imports point down and never up: ``lib`` <- ``store`` <- ``workflows`` <- ``defs``/``app``
<- ``cli`` (DESIGN.md, issue 14). Every ``import`` statement counts, at module level or inside
a function, because a function-level import is still a dependency (and still closes a cycle at
run time).

``from geo_platform.x import y`` counts as an import of ``geo_platform.x.y`` when ``y`` is a
submodule, else of ``geo_platform.x``; relative imports are resolved first. Importing a submodule
is not counted as importing its parent package (Python runs the parent's ``__init__``, but every
package that imports its own submodules would otherwise be a cycle).

The checker is plain functions over a folder, so the last test runs it on a copy of the package
with forbidden imports added and asserts that it reports them.
"""

from __future__ import annotations

import ast
import shutil
from dataclasses import dataclass
from pathlib import Path

import geo_platform

PACKAGE = "geo_platform"
PACKAGE_DIR = Path(geo_platform.__file__).parent

# Third-party packages only a layer that does I/O or Dagster wiring may import.
DAGSTER = ("dagster",)  # also dagster_azure, dagster_postgres, ... (prefix "dagster_")
DATABASE_AND_BLOBS = ("psycopg", "psycopg_pool", "azure")


@dataclass(frozen=True)
class Rule:
    """Modules under ``layer`` must not import any of ``internal`` or ``external``."""

    layer: str
    internal: tuple[str, ...] = ()
    external: tuple[str, ...] = ()


RULES = (
    Rule(
        "lib",
        ("store", "workflows", "resources", "defs", "app", "cli", "services"),
        DAGSTER + DATABASE_AND_BLOBS,
    ),
    Rule("store", ("workflows", "resources", "defs", "app", "cli"), DAGSTER),
    Rule("workflows", ("defs", "resources", "app", "cli"), DAGSTER),
    Rule("resources", ("defs", "app", "cli")),
    Rule("defs", ("app", "cli")),
    Rule("app", ("cli",)),
    # The CLI starts services before any code location is loaded: no Dagster, nothing above.
    Rule("services", ("workflows", "resources", "defs", "app", "cli"), DAGSTER),
)


@dataclass(frozen=True)
class Import:
    source: str  # importing module, e.g. geo_platform.lib.naming
    target: str  # imported module (inside the package) or top-level distribution name (outside)
    line: int

    @property
    def internal(self) -> bool:
        return self.target == PACKAGE or self.target.startswith(PACKAGE + ".")


def module_name(root: Path, path: Path) -> str:
    """``root/lib/naming.py`` -> ``geo_platform.lib.naming``; packages by their ``__init__``."""
    parts = [PACKAGE, *path.relative_to(root).with_suffix("").parts]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _package_of(module: str, path: Path) -> str:
    return module if path.name == "__init__.py" else module.rpartition(".")[0]


def _resolve(node: ast.ImportFrom, module: str, path: Path) -> str:
    """The absolute module a ``from ... import`` reads from."""
    if not node.level:
        return node.module or ""
    base = _package_of(module, path).split(".")
    base = base[: len(base) - (node.level - 1)]
    return ".".join([*base, node.module] if node.module else base)


def _internal_target(name: str, known: set[str]) -> str:
    """The longest known module that ``name`` names (``a.b.func`` -> ``a.b``)."""
    while name and name not in known and "." in name:
        name = name.rpartition(".")[0]
    return name


def imports_of(root: Path, path: Path, known: set[str]) -> list[Import]:
    """Every import of one file, at any depth (functions, classes, ``if`` blocks)."""
    module = module_name(root, path)
    out: list[Import] = []

    def add(target: str, line: int) -> None:
        if target == PACKAGE or target.startswith(PACKAGE + "."):
            target = _internal_target(target, known)
        else:
            target = target.partition(".")[0]
        if target and target != module:
            out.append(Import(module, target, line))

    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                add(alias.name, node.lineno)
        elif isinstance(node, ast.ImportFrom):
            base = _resolve(node, module, path)
            for alias in node.names:
                sub = f"{base}.{alias.name}"
                add(sub if sub in known else base, node.lineno)
    return out


def import_graph(root: Path) -> list[Import]:
    """All imports of every module of the package rooted at ``root``."""
    files = sorted(root.rglob("*.py"))
    known = {module_name(root, p) for p in files}
    return [imp for p in files for imp in imports_of(root, p, known)]


def _layer(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else None


def _forbidden(rule: Rule, imp: Import) -> bool:
    if imp.internal:
        return _layer(imp.target) in rule.internal
    return imp.target in rule.external or (
        "dagster" in rule.external and imp.target.startswith("dagster_")
    )


def layer_violations(graph: list[Import]) -> list[str]:
    """One line per forbidden import: ``source:line imports target (rule)``."""
    out = []
    for imp in graph:
        layer = _layer(imp.source)
        if imp.internal and _layer(imp.target) == "cli" and layer != "cli":
            out.append(f"{imp.source}:{imp.line} imports {imp.target} (nothing imports cli)")
            continue
        for rule in RULES:
            if layer == rule.layer and _forbidden(rule, imp):
                out.append(f"{imp.source}:{imp.line} imports {imp.target} ({rule.layer} rule)")
    return sorted(set(out))


@dataclass(frozen=True)
class Cycle:
    """A strongly connected group of modules and one import path round it."""

    members: tuple[str, ...]
    path: tuple[str, ...]


def import_cycles(graph: list[Import]) -> list[Cycle]:
    """Strongly connected groups of modules (Tarjan), each with one cycle through it."""
    edges: dict[str, set[str]] = {}
    for imp in graph:
        if imp.internal:
            edges.setdefault(imp.source, set()).add(imp.target)
            edges.setdefault(imp.target, set())
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[set[str]] = []

    def visit(node: str) -> None:  # recursion depth is bounded by the module count (~300)
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(edges[node]):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            group = set()
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.add(member)
                if member == node:
                    break
            if len(group) > 1:
                groups.append(group)

    for node in sorted(edges):
        if node not in index:
            visit(node)
    return sorted(
        (Cycle(tuple(sorted(g)), tuple(_cycle_through(g, edges))) for g in groups),
        key=lambda c: c.members,
    )


def _cycle_through(group: set[str], edges: dict[str, set[str]]) -> list[str]:
    """A readable path a -> b -> ... -> a inside one strongly connected group."""
    start = min(group)
    path, seen = [start], {start}
    node = start
    while True:
        nxt = sorted(n for n in edges[node] if n in group)
        back = [n for n in nxt if n == start]
        if back and len(path) > 1:
            return [*path, start]
        fresh = [n for n in nxt if n not in seen]
        if not fresh:  # closes on an earlier member: show the loop from there
            loop_start = next(n for n in nxt if n in seen)
            return [*path[path.index(loop_start) :], loop_start]
        node = fresh[0]
        path.append(node)
        seen.add(node)


def _short(modules: tuple[str, ...], sep: str) -> str:
    return sep.join(m.removeprefix(PACKAGE + ".") for m in modules)


def _describe(cycles: list[Cycle]) -> str:
    return "\n".join(
        f"{_short(c.path, ' -> ')}   (group: {_short(c.members, ', ')})" for c in cycles
    )


# --- the package -----------------------------------------------------------------------------
def test_every_module_is_parsed() -> None:
    """The walk sees the whole package (a checker that reads nothing would pass everything):
    every module with an import statement, at any depth, is a source in the graph."""
    graph = import_graph(PACKAGE_DIR)
    sources = {imp.source for imp in graph}
    with_imports = {
        module_name(PACKAGE_DIR, p)
        for p in PACKAGE_DIR.rglob("*.py")
        if any(
            isinstance(n, ast.Import | ast.ImportFrom)
            and not (isinstance(n, ast.ImportFrom) and n.module == "__future__")
            for n in ast.walk(ast.parse(p.read_text(encoding="utf-8")))
        )
    }
    assert len(with_imports) > 100
    assert with_imports <= sources, sorted(with_imports - sources)


def test_imports_point_down() -> None:
    violations = layer_violations(import_graph(PACKAGE_DIR))
    assert not violations, "imports that point up a layer:\n" + "\n".join(violations)


def test_no_import_cycles() -> None:
    cycles = import_cycles(import_graph(PACKAGE_DIR))
    assert not cycles, "import cycles:\n" + _describe(cycles)


# --- the checker itself ----------------------------------------------------------------------
def _copy_package(tmp_path: Path) -> Path:
    root = tmp_path / PACKAGE
    shutil.copytree(PACKAGE_DIR, root, ignore=shutil.ignore_patterns("__pycache__"))
    return root


def _append(path: Path, text: str) -> None:
    path.write_text(path.read_text(encoding="utf-8") + "\n" + text + "\n", encoding="utf-8")


def test_the_checker_reports_forbidden_imports_and_cycles(tmp_path: Path) -> None:
    root = _copy_package(tmp_path)
    before_violations = set(layer_violations(import_graph(root)))
    before_cycles = import_cycles(import_graph(root))
    # lib is pure: a Dagster import (inside a function) and a relative import of store.
    _append(root / "lib" / "naming.py", "def _x():\n    import dagster\n")
    _append(root / "lib" / "types.py", "from ..store import db\n")
    # workflows must not know the Dagster wiring; app must not import the CLI.
    _append(root / "workflows" / "unpublish.py", "from geo_platform.defs import raster\n")
    _append(root / "app" / "serve.py", "from geo_platform import cli\n")
    # A cycle: lib.errors -> lib.rules -> lib.errors (lib.rules may import lib.errors already).
    _append(root / "lib" / "errors.py", "def _y():\n    from geo_platform.lib import rules\n")
    _append(root / "lib" / "rules.py", "def _z():\n    from geo_platform.lib.errors import x\n")

    graph = import_graph(root)
    added = set(layer_violations(graph)) - before_violations
    assert any(v.startswith("geo_platform.lib.naming:") and "imports dagster" in v for v in added)
    assert any(
        v.startswith("geo_platform.lib.types:") and "geo_platform.store.db" in v for v in added
    )
    assert any(
        v.startswith("geo_platform.workflows.unpublish:") and "geo_platform.defs.raster" in v
        for v in added
    )
    assert any(v.startswith("geo_platform.app.serve:") and "imports cli" in v for v in added)
    cycles = import_cycles(graph)
    new = [c for c in cycles if c not in before_cycles]
    assert any({"geo_platform.lib.errors", "geo_platform.lib.rules"} <= set(c.path) for c in new), (
        _describe(cycles)
    )


def test_the_checker_passes_a_clean_tree(tmp_path: Path) -> None:
    """Three modules that import downwards: no violation, no cycle (the checker can say yes)."""
    root = tmp_path / PACKAGE
    for folder in ("lib", "store", "cli"):
        (root / folder).mkdir(parents=True)
        (root / folder / "__init__.py").write_text("")
    (root / "__init__.py").write_text("")
    (root / "lib" / "a.py").write_text("import json\n")
    (root / "store" / "b.py").write_text("import psycopg\nfrom ..lib import a\n")
    (root / "cli" / "c.py").write_text("def f():\n    from geo_platform.store.b import g\n")
    graph = import_graph(root)
    assert {(i.source, i.target) for i in graph if i.internal} == {
        ("geo_platform.store.b", "geo_platform.lib.a"),
        ("geo_platform.cli.c", "geo_platform.store.b"),
    }
    assert layer_violations(graph) == []
    assert import_cycles(graph) == []
