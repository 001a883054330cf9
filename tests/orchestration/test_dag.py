"""The DAG and the specs: order, wiring, and the shape rules that keep one interface in one place."""
from __future__ import annotations

import ast
import dataclasses
import importlib
import pkgutil
import re
import subprocess
import sys

import pytest

import components
from components.core import interface as spec_lib
from components.core.interface import ComponentSpec, Input, Lookup, Param, StepOutput
from components.orchestration import dag
from tests.helpers import ROOT

STEP_NAMES = [spec.name for spec in dag.PIPELINE]


def spec(name: str, *upstream: str) -> ComponentSpec:
    return ComponentSpec(name, "", "data", tuple(Input(f"in_{u}", StepOutput(u), "") for u in upstream))


def test_topological_order_puts_each_step_after_what_it_reads_and_keeps_declaration_order():
    assert [s.name for s in dag.topological()] == ["validate", "split", "train", "evaluate", "push"]
    shuffled = (spec("d", "b", "c"), spec("c", "a"), spec("b", "a"), spec("a"))
    assert [s.name for s in dag.topological(shuffled)] == ["a", "c", "b", "d"]


@pytest.mark.parametrize("specs", [(spec("a", "b"), spec("b", "a")), (spec("a", "missing"),)])
def test_topological_refuses_a_cycle_or_a_missing_step(specs):
    with pytest.raises(ValueError, match="cycle or a missing step"):
        dag.topological(specs)


def test_every_spec_is_wired_to_steps_that_exist_and_is_its_modules():
    names = set(STEP_NAMES)
    for item in dag.PIPELINE:
        assert importlib.import_module(item.module).SPEC is item
        assert item.upstream <= names
        flags = [i.name for i in item.inputs] + [o.name for o in item.outputs]
        assert len(flags) == len(set(flags)) and "output" not in flags
        assert all(isinstance(i.source, (Param, StepOutput, Lookup)) for i in item.inputs)
    assert [s.name for s in dag.PIPELINE if s.distributed] == ["train"]


def _string_literals(path) -> list[str]:
    return [node.value for node in ast.walk(ast.parse(path.read_text())) if isinstance(node, ast.Constant)
            and isinstance(node.value, str)]


def _strings(nodes) -> list[str]:
    return [n.value for n in nodes if isinstance(n, ast.Constant) and isinstance(n.value, str)]


def _key_literals(path) -> list[str]:
    """Strings used as names of things: subscripts, dict keys, .get()/.pop() keys, Input/Output/Param names
    (not path parts such as ROOT / "data", nor other arguments)."""
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Subscript):
            found += _strings([node.slice])
        elif isinstance(node, ast.Dict):
            found += _strings(node.keys)
        elif isinstance(node, ast.Call):
            name = getattr(node.func, "attr", getattr(node.func, "id", ""))
            if name in ("get", "pop", "setdefault", "Input", "Output", "Param") and node.args:
                found += _strings(node.args[:1])
    return found


def test_no_runner_names_a_step():
    for path in (ROOT / "components" / "runners").glob("*.py"):
        named = [s for s in _string_literals(path) if s in STEP_NAMES]
        assert not named, f"{path.name} names step(s) {named}: ask the spec instead"


def test_each_input_name_is_spelled_only_in_the_modules_of_the_steps_that_declare_it():
    """Its spec and its run() are in the step's module; no runner, lookup or pipeline.py spells it again.
    (Four inputs are named like the run parameters they come from, which core/interface.py names once.)"""
    owners: dict[str, set[str]] = {}
    for item in dag.PIPELINE:
        for name in [i.name for i in item.inputs] + [o.name for o in item.outputs]:
            owners.setdefault(name, set()).add(f"{item.name}.py")
    run_params = {p.name for p in (spec_lib.DATA, spec_lib.SCHEMA, spec_lib.SERVING_DIR, spec_lib.RUN_INFO)}
    sources = [*(ROOT / "components").rglob("*.py"), ROOT / "pipeline.py"]
    elsewhere = []
    for path in sources:
        for literal in set(_key_literals(path)) & set(owners):
            declared_here = path.parent.name == "steps" and path.name in owners[literal]
            param_here = path.name == "interface.py" and literal in run_params
            if not (declared_here or param_here):
                elsewhere.append(f"{literal!r} in {path.relative_to(ROOT)}")
    assert not elsewhere, "input names spelled outside their steps: " + ", ".join(sorted(elsewhere))


def all_modules() -> dict[str, object]:
    modules = {"components": ROOT / "components" / "__init__.py"}
    for info in pkgutil.walk_packages([str(ROOT / "components")], prefix="components."):
        base = ROOT / info.name.replace(".", "/")
        modules[info.name] = base / "__init__.py" if info.ispkg else base.with_suffix(".py")
    return modules


def test_pip_install_ships_every_module(tmp_path):
    """`pip install .` of the project: every module of components/ importable from the installed copy."""
    target = tmp_path / "site"
    subprocess.run([str(ROOT / ".uv" / "bin" / "uv"), "pip", "install", "--quiet", "--no-deps", "--target",
                    str(target), "--python", sys.executable, str(ROOT)], check=True, cwd=tmp_path)
    names = sorted(all_modules())
    code = ("import importlib, sys; import components; assert components.__file__.startswith(sys.argv[1]), "
            "components.__file__\nfor n in sys.argv[2:]: importlib.import_module(n)")
    subprocess.run([sys.executable, "-c", code, str(target), *names], check=True, cwd=tmp_path,
                   env={"PYTHONPATH": str(target), "PATH": "/usr/bin:/bin", "TF_CPP_MIN_LOG_LEVEL": "3",
                        "TF_USE_LEGACY_KERAS": "1"})
    assert (target / "pipeline.py").is_file()


def test_specs_are_frozen():
    with pytest.raises(dataclasses.FrozenInstanceError):
        dag.PIPELINE[0].name = "other"
    assert re.fullmatch(r"components\.steps\.\w+", dag.PIPELINE[0].module)
    assert components.__name__ == "components"
