"""The layers (issue 11): core <- db <- enroll <- app, gui, kept by import-linter's contracts in
pyproject.toml, which ``make check`` runs (``lint-imports``) before mypy and the tests.

The contract is run for real on a copy of the tree: as it is (kept), and with one lazy import that
reaches up a layer added to a core module (broken, naming the import), so the check is known to bite.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("core", "db", "enroll", "app", "gui")
LINT_IMPORTS = Path(sys.executable).parent / "lint-imports"


def _tree_copy(tmp_path: Path) -> Path:
    src = tmp_path / "src"
    src.mkdir()
    for name in PACKAGES:
        shutil.copytree(ROOT / name, src / name, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy2(ROOT / "pyproject.toml", src / "pyproject.toml")
    return src


def _lint_imports(cwd: Path) -> subprocess.CompletedProcess[str]:
    if not LINT_IMPORTS.exists():
        pytest.skip("import-linter is not installed (the dev extra)")
    # --no-cache: the copy is new each time; cwd first on sys.path, so the copy is what is analysed
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache"], cwd=cwd, capture_output=True, text=True, timeout=60
    )


def test_the_tree_keeps_the_layer_contracts(tmp_path):
    proc = _lint_imports(_tree_copy(tmp_path))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "2 kept, 0 broken" in proc.stdout


@pytest.mark.parametrize(
    ("module", "imported", "contract_line"),
    [
        ("core/paths.py", "db.store", "core is not allowed to import db"),
        ("core/sources.py", "app.demo", "core is not allowed to import app"),
        ("enroll/service.py", "app.cli", "enroll is not allowed to import app"),
        ("db/store.py", "gui.app", "db is not allowed to import gui"),
    ],
)
def test_a_lazy_import_up_a_layer_breaks_the_contract(tmp_path, module, imported, contract_line):
    src = _tree_copy(tmp_path)
    with (src / module).open("a") as f:  # inside a function: the lazy imports issue 11 was about
        f.write(f"\n\ndef _reaches_up() -> None:\n    import {imported}  # noqa: F401\n")
    proc = _lint_imports(src)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert contract_line in proc.stdout
    assert f"{module[:-3].replace('/', '.')} -> {imported}" in proc.stdout


def test_make_check_runs_lint_imports_before_mypy(tmp_path):
    if shutil.which("make") is None:
        pytest.skip("make is not installed")
    proc = subprocess.run(
        ["make", "-n", "check", f"VENV={tmp_path / 'venv'}"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    lines = proc.stdout.splitlines()
    lint = next(i for i, line in enumerate(lines) if line.endswith("/lint-imports"))
    mypy = next(i for i, line in enumerate(lines) if "-m mypy" in line)
    assert lint < mypy, proc.stdout
