"""Static checks of the Dockerfile: no Docker engine needed.

They keep the image in step with the Makefile's `run` job and pyproject.toml.
"""

from __future__ import annotations

import json
import re
import shlex
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DOCKERFILE = ROOT / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"


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


def test_every_package_directory_is_copied():
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    top_level = {p.split(".")[0].rstrip("*") for p in pyproject["tool"]["setuptools"]["packages"]["find"]["include"]}
    copies = " ".join(a for k, a in _instructions() if k == "COPY")
    for name in sorted(top_level | {"data"}):
        assert re.search(rf"(^|\s){name}/?(\s|$)", copies), f"{name}/ is not copied"
    assert "pyproject.toml" in copies


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
