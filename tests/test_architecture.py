"""The library's shape: subpackages in one-way layers, no import cycles, no hidden imports, no facades.

A stdlib ``ast`` pass over ``src/s2rlib`` (the same rules as ``../shared/tools/arch_check.py``, kept
here so the check runs wherever the tests do):

* layers ``_core < features < datasets < cases < training < grid < law < book < cli``: a module imports
  only from its own layer or lower ones;
* no import cycle between modules, counting imports inside functions;
* no import of the package's own modules inside a function, outside ``cli``;
* no facade: a name imported from a module of the package is defined there (only a subpackage's
  ``__init__`` gathers names, and only from its own modules), and every ``__init__`` has an ``__all__``
  of names it defines or imports;
* modules <= 600 lines, functions <= 80 lines;
* importing ``s2rlib.law`` or ``s2rlib.grid`` loads no plotting or notebook-display library.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SRC = REPO / "src" / "s2rlib"
LAYERS = ["_core", "features", "datasets", "cases", "training", "grid", "law", "book", "cli"]


def _modname(p: Path) -> str:
    parts = p.relative_to(SRC.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {_modname(p): p for p in SRC.rglob("*.py")}
TREES = {m: ast.parse(p.read_text()) for m, p in MODULES.items()}


def _defined(tree: ast.Module) -> set[str]:
    """Top-level names a module defines or imports."""
    out = set()
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            out.add(node.name)
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for tgt in targets:
                out |= {x.id for x in ast.walk(tgt) if isinstance(x, ast.Name)}
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            out |= {(a.asname or a.name).split(".")[0] for a in node.names}
        elif isinstance(node, ast.Try):
            out |= _defined(ast.Module(body=node.body, type_ignores=[]))
    return out


def _own_defs(tree: ast.Module) -> set[str]:
    """Top-level names a module defines itself (not imports)."""
    return {n for n in _defined(ast.Module(body=[x for x in tree.body if not isinstance(x, (ast.Import, ast.ImportFrom))],
                                          type_ignores=[]))}


def _imports(module: str):
    """(node, target module, imported names, inside a function) for every import of the package's own modules."""
    tree = TREES[module]
    in_func = {id(n) for f in ast.walk(tree) if isinstance(f, (ast.FunctionDef, ast.AsyncFunctionDef))
               for n in ast.walk(f) if isinstance(n, (ast.Import, ast.ImportFrom))}
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "s2rlib":
            assert node.level == 0, f"{module} line {node.lineno}: relative import (the package imports absolutely)"
            for a in node.names:
                sub = f"{node.module}.{a.name}"
                yield node, (sub if sub in MODULES else node.module), (None if sub in MODULES else a.name), id(node) in in_func
        elif isinstance(node, ast.Import):
            for a in node.names:
                if a.name.split(".")[0] == "s2rlib" and a.name in MODULES:
                    yield node, a.name, None, id(node) in in_func


def _layer(module: str) -> int | None:
    part = module.split(".")[1] if module.count(".") else ""
    return LAYERS.index(part) if part in LAYERS else None


EDGES = {m: {t for _, t, _, _ in _imports(m) if t != m} for m in MODULES}


def test_every_module_sits_in_a_layer_and_imports_run_one_way():
    assert {m.split(".")[1] for m in MODULES if m.count(".")} == set(LAYERS), "a subpackage outside the layers"
    up = [f"{a} -> {b}" for a, bs in EDGES.items() for b in bs
          if _layer(a) is not None and _layer(b) is not None and _layer(b) > _layer(a)]
    assert not up, f"imports that run back up a layer: {up}"


def test_no_import_cycles():
    index, low, stack, on, cycles = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in EDGES.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                cycles.append(sorted(comp))

    for v in sorted(MODULES):
        if v not in index:
            visit(v)
    assert not cycles, cycles


def test_no_function_level_imports_of_the_package_outside_cli():
    hidden = [f"{m} line {node.lineno}: {t}" for m in MODULES if not m.startswith("s2rlib.cli")
              for node, t, _, inside in _imports(m) if inside]
    assert not hidden, hidden


def test_no_facades_a_name_is_imported_from_where_it_is_defined():
    """``from s2rlib.x.y import name`` only where ``name`` is defined in ``s2rlib.x.y``; an ``__init__``
    imports only from the modules of its own subpackage."""
    bad = []
    for m in MODULES:
        is_init = MODULES[m].name == "__init__.py"
        for node, target, name, _ in _imports(m):
            if name is None:
                continue
            if MODULES[target].name == "__init__.py":
                bad.append(f"{m} line {node.lineno}: {name} from the package {target} (import it from its module)")
            elif name not in _own_defs(TREES[target]):
                bad.append(f"{m} line {node.lineno}: {name} from {target}, which does not define it")
            if is_init and not target.startswith(m + "."):
                bad.append(f"{m}: gathers {name} from {target}, outside its own subpackage")
    assert not bad, bad


@pytest.mark.parametrize("package", sorted(m for m, p in MODULES.items() if p.name == "__init__.py"))
def test_every_package_declares_its_public_names(package):
    tree = TREES[package]
    decl = [n for n in tree.body if isinstance(n, ast.Assign) and any(getattr(t, "id", "") == "__all__" for t in n.targets)]
    assert decl, f"{package} has no __all__"
    names = ast.literal_eval(decl[0].value)
    known = _defined(tree) | {p.split(".")[-1] for p in MODULES if p.rpartition(".")[0] == package}
    assert names and set(names) <= known, sorted(set(names) - known)
    assert ast.get_docstring(tree), f"{package}: say what the subpackage is for"


def test_modules_and_functions_stay_readable():
    long_modules = {m: len(p.read_text().splitlines()) for m, p in MODULES.items() if len(p.read_text().splitlines()) > 600}
    long_funcs = [f"{m}.{f.name} ({f.end_lineno - f.lineno + 1} lines)" for m, tree in TREES.items()
                  for f in ast.walk(tree) if isinstance(f, (ast.FunctionDef, ast.AsyncFunctionDef))
                  and f.end_lineno - f.lineno + 1 > 80]
    assert not long_modules and not long_funcs, (long_modules, long_funcs)


def test_the_architecture_check_agrees():
    """The project's shared checker (where the checkout sits beside ``../shared``) says the same."""
    tool = REPO.parent / "shared" / "tools" / "arch_check.py"
    if not tool.is_file():
        pytest.skip("../shared/tools/arch_check.py is not beside this checkout")
    out = subprocess.run([sys.executable, str(tool), str(SRC)], capture_output=True, text=True)
    assert out.returncode == 0 and out.stdout.strip() == "architecture ok", out.stdout


def test_the_science_layers_do_not_import_plotting_or_display_libraries():
    code = ("import sys, json, s2rlib.law, s2rlib.grid, s2rlib.training; "
            "print(json.dumps(sorted(m for m in ('matplotlib', 'seaborn', 'IPython') if m in sys.modules)))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert json.loads(out.stdout) == []


def test_generated_files_say_so():
    """Every file ``s2r book-pages`` writes for a built-in case opens with the banner that names its source
    (the test in test_cases.py checks that the generator reproduces them exactly)."""
    import nbformat

    from s2rlib.cases.registry import builtin_names

    for name in builtin_names():
        page = (REPO / "book" / "cases" / f"{name}.md").read_text()
        banner = f"% generated from `s2rlib/data/cases/{name}.toml` by `s2r book-pages`"
        assert banner in page.split("# ", 1)[0], name
        nb = nbformat.read(REPO / "notebooks" / f"{name}.ipynb", as_version=4)
        assert nb.cells[0].source.startswith(f"<!-- generated from `s2rlib/data/cases/{name}.toml` by `s2r book-pages`")
