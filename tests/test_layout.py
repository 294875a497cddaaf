"""The architecture as code: layers import only downwards, no import cycles, the app on the public API."""
import ast
from pathlib import Path

from tests.conftest import REPO

PACKAGES = ("forecasting", "backbones", "app")


def module_name(path: Path) -> str:
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(path): path for package in PACKAGES for path in (REPO / package).rglob("*.py")}


def imports(path: Path, module_level: bool) -> list[tuple[str, int]]:
    """(imported project module, line) for the module's top-level imports, or for those inside functions."""
    tree = ast.parse(path.read_text())
    package = module_name(path) if path.name == "__init__.py" else module_name(path).rpartition(".")[0]
    top = {id(node) for node in tree.body}
    found = []
    for node in ast.walk(tree):
        if not isinstance(node, (ast.Import, ast.ImportFrom)) or (id(node) in top) != module_level:
            continue
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        else:
            base = node.module or ""
            if node.level:
                base = ".".join(package.split(".")[:len(package.split(".")) - node.level + 1] + ([base] if base else []))
            names = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in MODULES else base for alias in node.names]
        found += [(name, node.lineno) for name in names if name.split(".")[0] in PACKAGES]
    return found


def test_layers_import_only_downwards():
    for name, path in MODULES.items():
        targets = {target.split(".")[0] for target, _ in imports(path, True) + imports(path, False)}
        if name.startswith("backbones"):
            assert targets <= {"backbones"}, f"{name} imports {targets}: backbones are pure PyTorch"
        if name.startswith("forecasting"):
            assert "app" not in targets, f"{name} imports the app"


def test_no_import_cycles_and_no_imports_hidden_in_functions():
    graph = {name: {target for target, _ in imports(path, True) if target in MODULES and target != name}
             for name, path in MODULES.items() if name.startswith("forecasting")}
    for name, path in MODULES.items():
        if not name.startswith("backbones"):    # backbones/timellm defers transformers' import cost
            assert not imports(path, False), f"{name} imports inside a function: {imports(path, False)}"

    done: set[str] = set()

    def visit(node: str, trail: list[str]) -> None:
        assert node not in trail, f"import cycle: {' -> '.join(trail[trail.index(node):] + [node])}"
        if node not in done:
            for target in graph.get(node, ()):
                visit(target, trail + [node])
            done.add(node)

    for name in graph:
        visit(name, [])


def test_the_app_uses_the_public_api_only():
    for name, path in MODULES.items():
        if name.startswith("app"):
            used = {target for target, _ in imports(path, True) if target.startswith("forecasting")}
            assert used <= {"forecasting"}, f"{name} reaches past the public API: {used}"
