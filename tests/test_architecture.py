"""The dependency direction holds (import-linter's contracts in pyproject.toml), and a wrong import breaks it."""
from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def _lint(root: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(LINT_IMPORTS), "--no-cache"], cwd=root, capture_output=True, text=True, timeout=300,
                          env={"PYTHONPATH": str(root), "PATH": str(LINT_IMPORTS.parent)})


@pytest.fixture(scope="module")
def copy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("repo")
    shutil.copy(REPO / "pyproject.toml", root)
    shutil.copytree(REPO / "app", root / "app", ignore=shutil.ignore_patterns("__pycache__"))
    return root


def test_the_contracts_hold(copy: Path) -> None:
    result = _lint(copy)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize(("module", "wrong_import", "contract"), [
    ("app/core/wrong.py", "import app.review.service", "core is the bottom layer"),
    ("app/training/wrong.py", "import sqlalchemy", "the training engine is pure"),
    ("app/consistency/metrics.py", "import app.core.db", "the maths is pure"),
    ("app/datasets/service.py", "import app.datasets.pages", "domain services never reach up"),
])
def test_a_wrong_import_breaks_its_contract(copy: Path, module: str, wrong_import: str, contract: str) -> None:
    path = copy / module
    before = path.read_text() if path.exists() else None
    path.write_text((before or '"""A module that imports what it must not."""\n') + f"\n{wrong_import}  # noqa\n")
    try:
        result = _lint(copy)
    finally:
        if before is None:
            path.unlink()
        else:
            path.write_text(before)
    assert result.returncode != 0
    broken = [line for line in result.stdout.splitlines() if line.endswith("BROKEN")]
    assert len(broken) == 1 and broken[0].startswith(contract), result.stdout
