"""The installable package and the CI checks: what `pip wheel .` ships, that pyproject.toml declares every
library the code imports, and that `make test` runs ruff and mypy before the tests."""

from __future__ import annotations

import ast
import importlib.metadata
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

tomllib = pytest.importorskip("tomllib")  # Python >= 3.11

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("core", "db", "enroll", "app", "gui")

#: imported only where they exist, never installed from the index (their import failing is reported)
OPTIONAL_RUNTIMES = {
    "tensorrt": "TensorRT: from NVIDIA's wheels or JetPack",
    "pycuda": "TensorRT's buffers: built against the local CUDA",
    "jtop": "jetson-stats: Jetson only",
    "tflite_runtime": "the old TFLite interpreter, when ai-edge-litert is absent",
    "triton_python_backend_utils": "exists only inside Triton's Python backend",
}


def _pyproject() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def _declared() -> set[str]:
    """Every distribution pyproject.toml installs (core and extras), plus the two setup.sh adds with
    --no-deps."""
    project = _pyproject()["project"]
    reqs = [
        *project["dependencies"],
        *(r for group in project["optional-dependencies"].values() for r in group),
    ]
    names = {canonicalize_name(Requirement(r).name) for r in reqs}
    setup = (ROOT / "scripts" / "setup.sh").read_text()
    no_deps = [line for line in setup.splitlines() if "--no-deps" in line and not line.startswith("#")]
    assert no_deps, "scripts/setup.sh no longer installs face_recognition and nvidia-pytriton with --no-deps"
    for word in no_deps[0].split():
        if "==" in word:
            names.add(canonicalize_name(word.split("==")[0]))
    return names


def _imported_modules() -> dict[str, str]:
    """Top-level third-party modules imported anywhere in the installed packages -> one file importing it."""
    found: dict[str, str] = {}
    files = [ROOT / "main.py", *(p for pkg in PACKAGES for p in (ROOT / pkg).rglob("*.py"))]
    for path in files:
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            for name in names:
                top = name.split(".")[0]
                if top not in sys.stdlib_module_names and top not in PACKAGES:
                    found.setdefault(top, str(path.relative_to(ROOT)))
    return found


def test_every_imported_library_is_declared_in_pyproject():
    declared = _declared()
    dists = importlib.metadata.packages_distributions()
    undeclared = []
    for module, where in sorted(_imported_modules().items()):
        if module in OPTIONAL_RUNTIMES:
            continue
        owners = {canonicalize_name(d) for d in dists.get(module, [])}
        if not owners & declared:
            undeclared.append(f"{module} (imported in {where}; installed by {sorted(owners) or 'nothing'})")
    assert not undeclared, "add to pyproject.toml's dependencies or an extra: " + "; ".join(undeclared)


def test_wheel_ships_the_packages_and_the_gui_resources_not_the_tests(tmp_path):
    # build from a copy: setuptools writes build/ and *.egg-info next to pyproject.toml
    src = tmp_path / "src"
    src.mkdir()
    for name in (*PACKAGES, "resources"):
        shutil.copytree(ROOT / name, src / name, ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "README.md", "main.py"):
        shutil.copy2(ROOT / name, src / name)
    shutil.copytree(ROOT / "tests", src / "tests", ignore=shutil.ignore_patterns("__pycache__"))
    out = tmp_path / "wheels"
    proc = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", str(src), "-w", str(out)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    (wheel,) = out.glob("facegate-*.whl")
    with zipfile.ZipFile(wheel) as zf:
        names = set(zf.namelist())
        entry_points = next(zf.read(n).decode() for n in names if n.endswith(".dist-info/entry_points.txt"))
    for needed in (
        "app/cli/__init__.py",
        "app/bench/worker.py",
        "core/deploy/protocol.py",
        "core/runtimes/ort.py",
        "db/store.py",
        "enroll/service.py",
        "gui/app.py",
        "resources/style.qss",
        "resources/icons/facegate.svg",
    ):
        assert needed in names
    assert not [n for n in names if n.startswith(("tests/", "benchmarks/")) or n == "main.py"]
    assert "facegate = app.cli:main" in entry_points


def test_make_test_runs_ruff_and_mypy_before_the_tests(tmp_path):
    if shutil.which("make") is None:
        pytest.skip("make is not installed")
    proc = subprocess.run(
        ["make", "-n", "test", f"VENV={tmp_path / 'venv'}"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    lines = proc.stdout.splitlines()

    def first(fragment: str) -> int:
        return next(i for i, line in enumerate(lines) if fragment in line)

    setup, pytest_run = first("scripts/setup.sh"), first("-m pytest")
    for check in ("-m ruff check", "-m ruff format --check", "-m mypy"):
        assert setup < first(check) < pytest_run, proc.stdout
