"""Static checks of the Dockerfile: no Docker engine needed.

They keep the image in step with the Makefile's `run` job and pyproject.toml.
"""

from __future__ import annotations

import ast
import json
import re
import shlex
import sys
import tomllib
from importlib.metadata import packages_distributions, requires
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parent.parent
DOCKERFILE = ROOT / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
# Imported only where installed: the Triton scan runs on CUDA tensors, and PyTorch's CUDA wheels bring
# triton (backbones/kernels/selective_scan.py checks for it first).
OPTIONAL_IMPORTS = {"triton"}


def _instructions() -> list[tuple[str, str]]:
    """(KEYWORD, arguments) for each instruction, continuation lines joined."""
    text = DOCKERFILE.read_text()
    logical: list[str] = []
    buf = ""
    for line in text.splitlines():
        stripped = line.strip()
        if not buf and (not stripped or stripped.startswith("#")):
            continue
        if buf and stripped.startswith("#"):
            continue
        if stripped.endswith("\\"):
            buf += stripped[:-1] + " "
            continue
        logical.append(buf + stripped)
        buf = ""
    if buf:
        logical.append(buf)
    out = []
    for item in logical:
        keyword, _, args = item.partition(" ")
        out.append((keyword.upper(), args.strip()))
    return out


def _makefile_run_argv() -> list[str]:
    text = (ROOT / "Makefile").read_text().replace("\\\n", " ")
    match = re.search(r"^run:.*?\n((?:\t.*\n?)+)", text, re.M)
    assert match, "Makefile has no run target"
    for line in match.group(1).splitlines():
        argv = shlex.split(line.strip())
        if argv and argv[0].endswith("/streamlit"):
            return ["streamlit", *argv[1:]]
    raise AssertionError("Makefile's run target does not start the app with streamlit")


def test_base_image_is_a_build_arg_with_official_default():
    ins = _instructions()
    first_from = next(i for i, (k, _) in enumerate(ins) if k == "FROM")
    args_before = [a for k, a in ins[:first_from] if k == "ARG"]
    assert "BASE_IMAGE=python:3.11-slim-bookworm" in args_before
    assert ins[first_from][1] == "${BASE_IMAGE}"


def test_torch_pinned_and_installed_before_the_project():
    runs = [a for k, a in _instructions() if k == "RUN"]
    torch_idx = next(i for i, a in enumerate(runs) if "torch==2.13.0" in a)
    project_idx = next(i for i, a in enumerate(runs) if re.search(r"pip install [^&;]*\s\.(\s|$)", a))
    assert torch_idx < project_idx
    assert "TORCH_INDEX_URL" in runs[torch_idx]
    assert any(k == "ARG" and a.startswith("TORCH_INDEX_URL") for k, a in _instructions())


def _packages() -> set[str]:
    """The project's top-level packages, as pyproject.toml lists them."""
    return {p.split(".")[0].rstrip("*") for p in PYPROJECT["tool"]["setuptools"]["packages"]["find"]["include"]}


def _is_copied(name: str) -> bool:
    copies = " ".join(a for k, a in _instructions() if k == "COPY")
    return re.search(rf"(^|\s){re.escape(name)}/?(\s|$)", copies) is not None


def _imported_top_level_names() -> set[str]:
    """Every top-level module that the project's packages import (absolute imports)."""
    names = set()
    for package in _packages():
        for path in (ROOT / package).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text())):
                if isinstance(node, ast.Import):
                    names |= {alias.name.split(".")[0] for alias in node.names}
                elif isinstance(node, ast.ImportFrom) and node.level == 0:
                    names.add(node.module.split(".")[0])
    return names


def _core_distributions() -> set[str]:
    """pyproject.toml's core dependencies and, as installed here, everything they require."""
    todo = [Requirement(line) for line in PYPROJECT["project"]["dependencies"]]
    seen: set[str] = set()
    while todo:
        requirement = todo.pop()
        name = canonicalize_name(requirement.name)
        if name in seen:
            continue
        seen.add(name)
        for line in requires(requirement.name) or []:
            child = Requirement(line)
            extras = ["", *requirement.extras]
            if child.marker is None or any(child.marker.evaluate({"extra": extra}) for extra in extras):
                todo.append(child)
    return seen


def test_every_package_directory_is_copied():
    # .streamlit/ holds the app's server settings (upload limit, theme)
    for name in sorted(_packages() | {"data", ".streamlit"}):
        assert _is_copied(name), f"{name}/ is not copied"
    assert _is_copied("pyproject.toml")


def test_every_module_the_code_imports_is_in_the_image():
    """The image copies the project's directories and installs only the core dependencies."""
    installed_by = packages_distributions()
    core = _core_distributions()
    for name in sorted(_imported_top_level_names() - set(sys.stdlib_module_names) - OPTIONAL_IMPORTS):
        if (ROOT / name).is_dir() or (ROOT / f"{name}.py").is_file():
            assert _is_copied(name), f"the code imports {name}, which the Dockerfile does not copy"
        else:
            distributions = {canonicalize_name(d) for d in installed_by.get(name, [])}
            assert distributions & core, (f"the code imports {name} (from {sorted(distributions) or 'nothing installed'}), "
                                          "which pyproject.toml's core dependencies do not install: the image lacks it")


def test_runs_as_non_root_in_app():
    ins = _instructions()
    users = [a for k, a in ins if k == "USER"]
    assert users and users[-1] not in {"root", "0"}
    workdirs = [a for k, a in ins if k == "WORKDIR"]
    assert workdirs[-1] == "/app"


def test_cmd_is_the_makefile_run_job():
    cmd = [a for k, a in _instructions() if k == "CMD"]
    assert len(cmd) == 1
    # The container listens on every interface so that a published port reaches the app.
    assert json.loads(cmd[0]) == [*_makefile_run_argv(), "--server.address", "0.0.0.0"]


def test_dockerignore_excludes_local_state():
    entries = {
        line.strip().rstrip("/")
        for line in DOCKERIGNORE.read_text().splitlines()
        if line.strip() and not line.startswith("#")
    }
    for name in (".venv", "out", ".git", "tests", "benchmarks"):
        assert name in entries
    assert "__pycache__" in entries or "**/__pycache__" in entries
    for needed in ("forecasting", "backbones", "app", "data", "pyproject.toml", "README.md"):
        assert needed not in entries
