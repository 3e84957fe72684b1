"""tests/RELIABILITY.md stays true: every test it names exists, every advisory class of
shared/reliability.md section (a) and every case #1-#50 of section (b) has a row, and a row without a
reference says why it is NOT AUTOMATED."""
from __future__ import annotations

import ast
import re
from functools import cache
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
MATRIX = REPO / "tests" / "RELIABILITY.md"
CLASSES = ("SSRF", "upload XSS / SVG", "Content-Type", "path traversal", "IDOR", "ORM leak", "open redirect", "CSRF",
           "insecure defaults", "privilege escalation", "multipart DoS", "decompression bombs")
REFERENCE = re.compile(r"`((?:tests|bench)/[\w/.-]+\.py)(?:::(\w+))?`")


@cache
def functions(path: Path) -> frozenset[str]:
    tree = ast.parse(path.read_text())
    return frozenset(node.name for node in ast.walk(tree) if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef))


def rows() -> dict[str, str]:
    """First cell -> the whole row, for every table row of the matrix."""
    found = {}
    for line in MATRIX.read_text().splitlines():
        if line.startswith("|") and not line.startswith("|---"):
            cells = [c.strip() for c in line.strip("|").split("|")]
            found[cells[0]] = line
    return found


def test_every_referenced_test_exists() -> None:
    missing = []
    for path, name in REFERENCE.findall(MATRIX.read_text()):
        file = REPO / path
        if not file.is_file():
            missing.append(f"{path} (no such file)")
        elif name and name not in functions(file):
            missing.append(f"{path}::{name} (no such test)")
    assert not missing, "tests/RELIABILITY.md names tests that are gone; update it:\n" + "\n".join(sorted(set(missing)))


def test_every_advisory_class_and_case_has_a_covered_row() -> None:
    table = rows()
    problems = [f"advisory class {c!r} has no row" for c in CLASSES if c not in table]
    problems += [f"case #{n} has no row" for n in range(1, 51) if str(n) not in table]
    for key in [*CLASSES, *map(str, range(1, 51))]:
        row = table.get(key, "")
        if row and not REFERENCE.search(row) and "NOT AUTOMATED" not in row:
            problems.append(f"row {key!r} names no test and gives no NOT AUTOMATED reason")
    for key in CLASSES:
        if key in table and not re.search(r"`tests/[\w/.-]+\.py::\w+`", table[key]):
            problems.append(f"advisory class {key!r} must map to at least one automated test")
    assert not problems, "\n".join(problems)
