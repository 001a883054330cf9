"""The code base's shape: layers imported one way, no cycle, short modules and functions, no issue numbers."""
from __future__ import annotations

import ast
import io
import re
import tokenize
from pathlib import Path

import pytest

import components

ROOT = Path(components.__file__).resolve().parent
MODULES = sorted(p for p in ROOT.rglob("*.py") if "__pycache__" not in p.parts)


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(path: Path) -> set[str]:
    """Every project module `path` imports, anywhere in it (module level, functions, re-exports)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.startswith("components")}
        elif isinstance(node, ast.ImportFrom) and not node.level and (node.module or "").startswith("components"):
            found |= {f"{node.module}.{a.name}" if (ROOT.parent / node.module.replace(".", "/") / f"{a.name}.py")
                      .exists() else node.module for a in node.names}
    return found


def layer(module: str) -> int:
    top = module.split(".")[1] if "." in module else ""
    return components.LAYERS.index(top) if top in components.LAYERS else -1


def upward_imports(paths) -> list[str]:
    return [f"{module_name(p)} imports {target}" for p in paths for target in imports_of(p)
            if layer(target) > layer(module_name(p))]


def test_the_layer_order_is_the_package_list():
    packages = {p.name for p in ROOT.iterdir() if (p / "__init__.py").exists()}
    top_modules = {p.stem for p in ROOT.glob("*.py") if p.stem != "__init__"}
    assert packages | top_modules == set(components.LAYERS)
    assert len(top_modules) + 1 <= 6  # predict, models and __init__


def test_no_module_imports_a_later_layer():
    assert upward_imports(MODULES) == []


def test_the_check_sees_an_upward_import_inside_a_function(tmp_path):
    bad = ROOT / "core" / "_probe_upward.py"
    bad.write_text("def f():\n    from components.runners import local\n    return local\n")
    try:
        assert upward_imports([bad]) == ["components.core._probe_upward imports components.runners.local"]
    finally:
        bad.unlink()


def test_the_import_graph_has_no_cycle():
    graph = {module_name(p): {t for t in imports_of(p)} for p in MODULES}
    done, active = set(), []

    def visit(node):
        if node in active:
            pytest.fail("import cycle: " + " -> ".join(active[active.index(node):] + [node]))
        if node in done or node not in graph:
            return
        active.append(node)
        for target in graph[node]:
            visit(target)
        active.pop()
        done.add(node)

    for name in graph:
        visit(name)


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(ROOT)))
def test_modules_and_functions_are_short(path):
    assert len(path.read_text().splitlines()) <= 300
    long = [f"{n.name} ({n.end_lineno - n.lineno + 1} lines)" for n in ast.walk(ast.parse(path.read_text()))
            if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef)) and n.end_lineno - n.lineno + 1 > 60]
    assert long == []


def test_comments_cite_no_issue_numbers():
    issue = re.compile(r"(?i)(#\d{1,4}\b|\bissue \d+|\btask \d+)")
    found = []
    for path in MODULES + [ROOT.parent / "pipeline.py"]:
        tokens = tokenize.generate_tokens(io.StringIO(path.read_text()).readline)
        found += [f"{path.name}:{t.start[0]}" for t in tokens
                  if t.type in (tokenize.COMMENT, tokenize.STRING) and issue.search(t.string)]
    assert found == []


def test_test_modules_have_unique_names():
    names = [p.name for p in (ROOT.parent / "tests").rglob("test_*.py")]
    assert sorted(names) == sorted(set(names))


def test_every_module_has_a_test_that_imports_it():
    """A module only reached through others has no test of its own: each is imported by name somewhere."""
    imported = set()
    for path in (ROOT.parent / "tests").rglob("*.py"):
        imported |= imports_of(path)
    untested = [module_name(p) for p in MODULES if p.name != "__init__.py" and module_name(p) not in imported]
    assert untested == []
