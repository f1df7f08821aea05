"""The tests' own layout, checked by reading their source (nothing is imported or run, so this is fast):

* no module under tests/ imports a test module (``tests.test_*``) or conftest: shared fixtures live in
  tests/conftest.py, shared helpers in tests/support/, tests/webutil.py, tests/services.py and the like;
* every test that starts a process, drives a browser or builds a virtualenv carries the tier's marker
  (``processes``, ``browser``, ``shipped``), so it can never land in `make check`'s fast tier unnoticed.

A test starts a process when its body, a fixture it asks for (in its module or conftest, and their own
fixtures), or any helper it reaches in its module, tests/ or bench/ (functions, classes with all their
methods, module constants) calls subprocess, Popen, os.fork/system/spawn/exec, multiprocessing, or sets
``embedded_runner`` to anything but "thread" (the app then trains in a child process). Playwright means
``browser``; ``python -m venv`` or the venv module means ``shipped``. The markers a test has are its own
decorators, its class's, its module's ``pytestmark`` and those conftest's FIXTURE_MARKS give its fixtures.
"""

from __future__ import annotations

import ast
import functools
from pathlib import Path

TESTS = Path(__file__).resolve().parent
ROOT = TESTS.parent
#: Packages whose source is followed when a test calls into them (the product's own code is not: the
#: ``embedded_runner`` rule stands for the one way a test makes the app start a process).
FOLLOWED = ("tests", "bench")
TIERS = ("processes", "browser", "shipped")

SUBPROCESS_CALLS = {"run", "Popen", "call", "check_call", "check_output", "getoutput", "getstatusoutput"}
OS_CALLS = {"fork", "forkpty", "system", "popen", "posix_spawn", "posix_spawnp"}
PLAYWRIGHT = {"sync_playwright", "async_playwright"}
VENV_ARGS = "-m venv".split()


def _source_files() -> list[Path]:
    return sorted(p for p in TESTS.rglob("*.py") if "node_modules" not in p.parts)


def _module_name(path: Path) -> str:
    return ".".join(path.relative_to(ROOT).with_suffix("").parts)


@functools.cache
def _module(name: str) -> "Module | None":
    path = ROOT.joinpath(*name.split("."))
    if path.with_suffix(".py").is_file():
        return Module(name, path.with_suffix(".py"))
    if (path / "__init__.py").is_file():
        return Module(name, path / "__init__.py")
    return None


def _dotted(node: ast.AST) -> str:
    """``pytest.mark.processes`` for that expression ('' for anything else)."""
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        base = _dotted(node.value)
        return f"{base}.{node.attr}" if base else ""
    if isinstance(node, ast.Call):
        return _dotted(node.func)
    return ""


def _marks(expression: ast.AST | None) -> set[str]:
    """Tier markers named in a decorator list entry or a ``pytestmark`` value."""
    if expression is None:
        return set()
    found = set()
    for node in ast.walk(expression):
        name = _dotted(node) if isinstance(node, (ast.Attribute, ast.Call)) else ""
        if name.startswith("pytest.mark.") and name.split(".")[2] in TIERS:
            found.add(name.split(".")[2])
    return found


def _is_fixture(node: ast.AST) -> bool:
    return isinstance(node, ast.FunctionDef) and any(_dotted(d).startswith("pytest.fixture") for d in node.decorator_list)


def _autouse(node: ast.FunctionDef) -> bool:
    return any(isinstance(d, ast.Call) and any(k.arg == "autouse" and getattr(k.value, "value", False) is True
                                               for k in d.keywords) for d in node.decorator_list)


def _fixture_args(node: ast.FunctionDef) -> list[str]:
    return [a.arg for a in node.args.posonlyargs + node.args.args + node.args.kwonlyargs if a.arg not in ("self", "cls")]


class Module:
    """One parsed source file: its imports, top-level definitions and constants."""

    def __init__(self, name: str, path: Path) -> None:
        self.name, self.path = name, path
        self.tree = ast.parse(path.read_text(), filename=str(path))
        self.imports: dict[str, tuple[str, str | None]] = {}  # local name -> (module, attribute or None)
        self.defs: dict[str, ast.AST] = {}
        self.pytestmark: ast.AST | None = None
        self.imports = _imports(self.tree.body)
        for node in self.tree.body:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                self.defs[node.name] = node
            elif isinstance(node, (ast.Assign, ast.AnnAssign)):
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                for target in targets:
                    if isinstance(target, ast.Name):
                        self.defs[target.id] = node
                        if target.id == "pytestmark":
                            self.pytestmark = node.value

    def fixtures(self) -> dict[str, ast.FunctionDef]:
        return {name: node for name, node in self.defs.items() if _is_fixture(node)}


def _imports(nodes) -> dict[str, tuple[str, str | None]]:
    """Local name -> (module, attribute or None) for the import statements among ``nodes``."""
    found = {}
    for node in nodes:
        if isinstance(node, ast.Import):
            for alias in node.names:
                found[alias.asname or alias.name.split(".")[0]] = (alias.name if alias.asname else alias.name.split(".")[0], None)
        elif isinstance(node, ast.ImportFrom) and node.module:
            for alias in node.names:
                found[alias.asname or alias.name] = (node.module, alias.name)
    return found


def _names_in(module: Module, node: ast.AST) -> dict[str, tuple[str, str | None]]:
    """The module's imports plus those made inside ``node`` (imports deferred into a function)."""
    return {**module.imports, **_imports(ast.walk(node))}


def _module_of(imports: dict, local: str) -> str | None:
    """The module a local name stands for, when it is one (``import subprocess``, ``from tests import shipped``)."""
    module, attribute = imports.get(local, (None, None))
    if module is None:
        return None
    return module if attribute is None else f"{module}.{attribute}"


def _direct_tiers(module: Module, node: ast.AST) -> set[str]:
    """Tiers that the code of ``node`` itself asks for."""
    found = set()
    imports = _names_in(module, node)
    for sub in ast.walk(node):
        if isinstance(sub, ast.Attribute) and isinstance(sub.value, ast.Name):
            owner = _module_of(imports, sub.value.id)
            if owner == "subprocess" and sub.attr in SUBPROCESS_CALLS:
                found.add("processes")
            elif owner == "os" and (sub.attr in OS_CALLS or sub.attr.startswith(("spawn", "exec"))):
                found.add("processes")
            elif owner == "multiprocessing" or (owner or "").startswith("multiprocessing."):
                found.add("processes")
            elif owner == "venv":
                found.add("shipped")
        elif isinstance(sub, ast.Name) and sub.id in imports:
            source, attribute = imports[sub.id]
            if source == "subprocess" and attribute in SUBPROCESS_CALLS:
                found.add("processes")
            elif source.startswith("multiprocessing"):
                found.add("processes")
            elif attribute in PLAYWRIGHT:
                found.add("browser")
            elif source == "venv":
                found.add("shipped")
        elif isinstance(sub, ast.keyword) and sub.arg == "embedded_runner":
            if not (isinstance(sub.value, ast.Constant) and sub.value.value == "thread"):
                found.add("processes")
        elif isinstance(sub, (ast.List, ast.Tuple)):
            words = [e.value for e in sub.elts if isinstance(e, ast.Constant)]
            if any(words[i:i + 2] == VENV_ARGS for i in range(len(words))):
                found.add("shipped")
    return found


def _referenced(module: Module, node: ast.AST) -> set[tuple[str, str]]:
    """(module, name) of the definitions in followed packages that ``node``'s code refers to."""
    found = set()
    imports = _names_in(module, node)
    for sub in ast.walk(node):
        if isinstance(sub, ast.Name):
            if sub.id in imports:
                source, attribute = imports[sub.id]
                if attribute and source.split(".")[0] in FOLLOWED:
                    found.add((source, attribute))
            elif sub.id in module.defs:
                found.add((module.name, sub.id))
        elif isinstance(sub, ast.Attribute) and isinstance(sub.value, ast.Name):
            owner = _module_of(imports, sub.value.id)
            if owner and owner.split(".")[0] in FOLLOWED:
                found.add((owner, sub.attr))
    return found


@functools.cache
def _tiers_of(module_name: str, name: str) -> frozenset[str]:
    """Tiers reached from definition ``name`` of ``module_name`` (following what it refers to)."""
    return frozenset(_reach(module_name, name, frozenset()))


def _reach(module_name: str, name: str, seen: frozenset) -> set[str]:
    key = (module_name, name)
    module = _module(module_name)
    if key in seen or module is None:
        return set()
    node = module.defs.get(name)
    if node is None:
        # ``from tests.support import players`` then ``players.x``, or a re-export through an import.
        target = module.imports.get(name)
        return _reach(target[0], target[1], seen | {key}) if target and target[1] else set()
    body = node
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        # Decorators (marks, parametrize values) are not run by the test.
        body = ast.Module(body=node.body, type_ignores=[])
    found = _direct_tiers(module, body)
    for other in _referenced(module, body):
        if other != key:
            found |= _reach(*other, seen | {key})
    return found


CONFTEST = "tests.conftest"


def _fixture_owner(module: Module, fixture: str) -> str | None:
    if fixture in module.fixtures():
        return module.name
    if fixture in _module(CONFTEST).fixtures():
        return CONFTEST
    return None


def _fixture_closure(module: Module, names: list[str]) -> set[tuple[str, str]]:
    """(owning module, fixture) for ``names`` and every fixture they ask for in turn."""
    closure, todo = set(), list(names)
    while todo:
        name = todo.pop()
        owner = _fixture_owner(module, name)
        if owner is None or (owner, name) in closure:
            continue
        closure.add((owner, name))
        node = _module(owner).defs[name]
        todo.extend(_fixture_args(node))
    return closure


def _fixture_marks() -> dict[str, set[str]]:
    """conftest's FIXTURE_MARKS, read as a literal."""
    node = _module(CONFTEST).defs["FIXTURE_MARKS"]
    return {k: set(v) for k, v in ast.literal_eval(node.value).items()}


def _usefixtures(expression: ast.AST | None) -> list[str]:
    names = []
    for node in ast.walk(expression) if expression is not None else ():
        if isinstance(node, ast.Call) and _dotted(node.func) == "pytest.mark.usefixtures":
            names += [a.value for a in node.args if isinstance(a, ast.Constant)]
    return names


def _tests(module: Module):
    """(test id, function node, tiers marked on it or its class) of every test function of the module."""
    for node in module.tree.body:
        if isinstance(node, ast.FunctionDef) and node.name.startswith("test_"):
            yield node.name, node, set().union(*(_marks(d) for d in node.decorator_list)), []
        elif isinstance(node, ast.ClassDef) and node.name.startswith("Test"):
            class_marks = set().union(*(_marks(d) for d in node.decorator_list))
            for method in node.body:
                if isinstance(method, ast.FunctionDef) and method.name.startswith("test_"):
                    own = set().union(*(_marks(d) for d in method.decorator_list))
                    yield f"{node.name}::{method.name}", method, class_marks | own, [node]


def _test_modules() -> list[Module]:
    return [_module(_module_name(p)) for p in _source_files() if p.name.startswith("test_")]


def tier_problems() -> list[str]:
    """Tests that reach a tier's trigger without carrying its marker."""
    fixture_marks = _fixture_marks()
    problems = []
    for module in _test_modules():
        module_marks = _marks(module.pytestmark)
        autouse = [name for name, node in module.fixtures().items() if _autouse(node)]
        for test_id, node, marks, _ in _tests(module):
            closure = _fixture_closure(module, _fixture_args(node) + autouse + _usefixtures(module.pytestmark))
            have = marks | module_marks
            for _, fixture in closure:
                have |= fixture_marks.get(fixture, set())
            need = _reach_node(module, node)
            for owner, fixture in closure:
                need |= _tiers_of(owner, fixture)
            for tier in sorted(need - have):
                problems.append(f"{module.path.relative_to(ROOT)}::{test_id} reaches `{tier}` code but is not marked "
                                f"pytest.mark.{tier} (decorator, pytestmark, or a fixture in conftest's FIXTURE_MARKS)")
    return problems


def _reach_node(module: Module, node: ast.FunctionDef) -> set[str]:
    body = ast.Module(body=node.body, type_ignores=[])
    found = _direct_tiers(module, body)
    for other in _referenced(module, body):
        found |= _tiers_of(*other)
    return found


def _is_test_module_or_conftest(name: str) -> bool:
    parts = name.split(".")
    if parts[0] == "conftest":  # pytest puts tests/ on sys.path, so "from conftest import ..." works, and must not
        return True
    return (parts[0] == "tests" and any(part.startswith("test_") or part == "conftest" for part in parts[1:])
            and _module(name) is not None)


def cross_imports() -> list[str]:
    """Imports of a test module or of conftest, anywhere under tests/ (helpers named test_* are fine)."""
    problems = []
    for path in _source_files():
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
            problems += [f"{path.relative_to(ROOT)}:{node.lineno} imports {name}"
                         for name in names if _is_test_module_or_conftest(name)]
    return problems


def test_no_module_under_tests_imports_a_test_module_or_conftest():
    assert cross_imports() == []


def test_every_test_that_starts_a_process_a_browser_or_a_venv_is_marked_with_its_tier():
    assert tier_problems() == []


def test_the_checks_see_what_they_are_meant_to():
    """The analysis finds the triggers it is meant to find (so an empty list above means something)."""
    browser = _module("tests.test_browser_keyboard")
    name, node, marks, _ = next(_tests(browser))
    closure = _fixture_closure(browser, _fixture_args(node))
    assert (CONFTEST, "chromium") in closure and "browser" in _tiers_of(CONFTEST, "chromium")
    assert "processes" in _tiers_of("bench.processes", "start_server")
    assert "shipped" in _tiers_of("tests.shipped", "ShippedVenv")
    assert "processes" in _tiers_of("tests.support.stack", "stack")
    assert _tiers_of("tests.webutil", "game") == frozenset()  # the thread runner: no process


def test_every_postgresql_run_is_marked_whichever_fixture_picks_the_backend():
    """`make check` leaves out the PostgreSQL runs: a module's own backend fixture must count as well as database_url."""
    from tests.support.tiers import runs_on_postgresql

    assert runs_on_postgresql({"database_url": "postgresql"})
    assert runs_on_postgresql({"world": "postgresql", "role": "student"})
    assert not runs_on_postgresql({"database_url": "sqlite", "name": "revert_limit"})
    assert not runs_on_postgresql({"names": ("bot", "random"), "seed": 3})
