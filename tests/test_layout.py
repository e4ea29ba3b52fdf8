"""The package's layout: stages import only from stages before them, at module level, and
no module imports itself back through others; the public API resolves; ARCHITECTURE.md
names every module."""

import ast
import pathlib

import pytest

import convac

ROOT = pathlib.Path(convac.__file__).parent
STAGES = ("validate", "nets", "tensors", "rank", "fit", "experiments", "bench", "cli")
"""The data flow, first stage first: a module may import from its own stage or an earlier
one.  ``validate`` stands for the top-level foundation modules."""


def _module_name(path: pathlib.Path) -> str:
    parts = ["convac", *path.relative_to(ROOT).with_suffix("").parts]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {_module_name(p): p for p in sorted(ROOT.rglob("*.py"))}


def _is_package(name: str) -> bool:
    return MODULES[name].name == "__init__.py"


def _resolve(name: str, node: ast.ImportFrom) -> str:
    """Absolute module of a ``from`` import in module ``name``."""
    if not node.level:
        return node.module or ""
    base = name.split(".") if _is_package(name) else name.split(".")[:-1]
    base = base[: len(base) - node.level + 1]
    return ".".join(base + ([node.module] if node.module else []))


def _imports(name: str):
    """``(target module, in a function, lineno)`` for every convac import of ``name``;
    ``from pkg import sub`` counts as an import of the submodule ``pkg.sub``."""
    tree = ast.parse(MODULES[name].read_text())
    found = []

    def visit(node, in_function, type_checking):
        for child in ast.iter_child_nodes(node):
            func = in_function or isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef |
                                             ast.Lambda)
            checking = type_checking or (
                isinstance(child, ast.If) and "TYPE_CHECKING" in ast.unparse(child.test))
            targets = []
            if isinstance(child, ast.Import):
                targets = [a.name for a in child.names]
            elif isinstance(child, ast.ImportFrom):
                mod = _resolve(name, child)
                targets = [f"{mod}.{a.name}" if f"{mod}.{a.name}" in MODULES else mod
                           for a in child.names]
            for t in targets:
                if t == "convac" or t.startswith("convac."):
                    found.append((t, in_function, checking, child.lineno))
            visit(child, func, checking)

    visit(tree, False, False)
    return found


def _stage(name: str) -> int:
    parts = name.split(".")
    return STAGES.index(parts[1]) if len(parts) > 1 and parts[1] in STAGES else 0


INTERNAL = [m for m in MODULES if m != "convac"]  # the root loads its names lazily


@pytest.mark.parametrize("name", INTERNAL)
def test_no_convac_import_inside_a_function(name):
    inside = [f"line {line}: {t}" for t, func, _, line in _imports(name) if func]
    assert not inside, f"{name} imports convac modules inside functions: {inside}"


@pytest.mark.parametrize("name", INTERNAL)
def test_imports_flow_one_way(name):
    up = [f"line {line}: {t}" for t, _, checking, line in _imports(name)
          if not checking and t != "convac" and _stage(t) > _stage(name)]
    assert not up, f"{name} ({STAGES[_stage(name)]}) imports from later stages: {up}"


def test_no_import_cycle():
    graph = {m: {t for t, func, checking, _ in _imports(m) if not checking and t in MODULES
                 and t != "convac"} for m in INTERNAL}
    done, stack = set(), []

    def visit(m):
        if m in stack:
            raise AssertionError("import cycle: " + " -> ".join(stack[stack.index(m):] + [m]))
        if m in done:
            return
        stack.append(m)
        for t in sorted(graph[m]):
            visit(t)
        stack.pop()
        done.add(m)

    for m in sorted(graph):
        visit(m)


def test_the_layout_test_sees_the_package():
    # a walker that found nothing would pass every check above
    assert {"convac.nets.network", "convac.rank.methods", "convac.cli"} <= set(MODULES)
    assert any(t == "convac.nets.network" for t, *_ in _imports("convac.tensors.coefficient"))


@pytest.mark.parametrize("name", convac.__all__)
def test_every_public_name_resolves(name):
    assert getattr(convac, name) is not None


@pytest.mark.parametrize("name", [m for m in MODULES if _is_package(m)])
def test_every_subpackage_states_its_public_names(name):
    tree = ast.parse(MODULES[name].read_text())
    declared = [n for n in tree.body if isinstance(n, ast.Assign)
                and any(getattr(t, "id", None) == "__all__" for t in n.targets)]
    assert declared, f"{name}/__init__.py has no __all__"


def test_architecture_names_every_module():
    text = (ROOT.parent / "ARCHITECTURE.md").read_text()
    missing = [m for m in MODULES if m != "convac"
               and f"{m.removeprefix('convac.').replace('.', '/')}" not in text]
    assert not missing, f"ARCHITECTURE.md does not name {missing}"


def test_module_level_third_party_imports_are_base_dependencies():
    """An import at module level runs on ``import convac.x``: its distribution must be a
    base dependency (optional ones are imported inside functions, behind an extra), except
    in the report's modules, which only the commands that declare matplotlib import."""
    import sys

    import tomllib

    with open(ROOT.parent / "pyproject.toml", "rb") as fh:
        deps = tomllib.load(fh)["project"]["dependencies"]
    base = {d.split(">")[0].split("<")[0].split("=")[0].strip() for d in deps}
    found = set()
    for name, path in MODULES.items():
        if name.startswith("convac.bench.report"):
            continue
        for node in ast.parse(path.read_text()).body:
            if isinstance(node, ast.Import):
                found |= {a.name.split(".")[0] for a in node.names}
            elif isinstance(node, ast.ImportFrom) and not node.level:
                found.add(node.module.split(".")[0])
    third_party = found - set(sys.stdlib_module_names) - {"convac", "__future__"}
    assert third_party and third_party <= base, sorted(third_party - base)


IMPORT_DISTRIBUTIONS = {"flint": "python-flint", "sklearn": "scikit-learn"}
"""Import names whose distribution is named otherwise."""


def test_imports_inside_functions_are_optional_extras_only():
    """Inside a function a module imports only an optional extra's library (imported where
    it is needed, so the base install runs without it); everything else, the standard
    library and base dependencies included, is imported at module level."""
    import tomllib

    with open(ROOT.parent / "pyproject.toml", "rb") as fh:
        project = tomllib.load(fh)["project"]

    def dist(req: str) -> str:
        return req.split("[")[0].split(">")[0].split("<")[0].split("=")[0].strip()

    base = {dist(d) for d in project["dependencies"]}
    extras = {dist(d) for k, reqs in project["optional-dependencies"].items() if k != "dev"
              for d in reqs} - base
    wrong = []
    for name, path in MODULES.items():
        for func in ast.walk(ast.parse(path.read_text())):
            if not isinstance(func, ast.FunctionDef | ast.AsyncFunctionDef):
                continue
            for node in ast.walk(func):
                if isinstance(node, ast.Import):
                    tops = [a.name.split(".")[0] for a in node.names]
                elif isinstance(node, ast.ImportFrom):
                    tops = ["convac" if node.level else node.module.split(".")[0]]
                else:
                    continue
                wrong += [f"{name}:{node.lineno} {t}" for t in tops
                          if IMPORT_DISTRIBUTIONS.get(t, t) not in extras]
    assert extras and not wrong, f"imports inside functions that are no optional extra: {wrong}"
