"""The rows of a metadata file (metadata.csv: file name -> line, camera, shift...) matched to the files
of an import: every row describes exactly one file, and no file gets two rows.

A row names a file by its path under the imported folder (`line1/img_001.jpg`) or, when only one file
has it, by its bare name (`img_001.jpg`). A row that names no file of the import, a bare name two
folders share, or a second row for one file would lose or misplace what someone wrote: each is
refused (Invalid naming the row), before anything is stored.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from app.core.errors import Invalid

SHOWN = 5  # names listed in a refusal


def normalize(name: str) -> str:
    name = name.strip().replace("\\", "/")
    while name.startswith("./"):
        name = name[2:]
    return name


def assign(rows: dict[str, dict[str, Any]], relatives: Iterable[str], *,
           source: str = "metadata") -> dict[str, dict[str, Any]]:
    """Relative path of each file -> its row's values (files without a row are left out)."""
    files = sorted({normalize(r) for r in relatives})
    by_bare: dict[str, list[str]] = {}
    for relative in files:
        by_bare.setdefault(relative.rsplit("/", 1)[-1], []).append(relative)
    known = set(files)
    out: dict[str, dict[str, Any]] = {}
    by_row: dict[str, str] = {}
    unmatched = []
    for name, values in rows.items():
        key = normalize(name)
        matches = [key] if key in known else by_bare.get(key, []) if "/" not in key else []
        if not matches:
            unmatched.append(name)
            continue
        if len(matches) > 1:
            raise Invalid(f"{source}: {name!r} names {len(matches)} files ({', '.join(matches[:SHOWN])}); "
                          "give its path under the folder", field=source)
        if matches[0] in out:
            raise Invalid(f"{source}: {name!r} and {by_row[matches[0]]!r} both describe {matches[0]}", field=source)
        out[matches[0]], by_row[matches[0]] = values, name
    if unmatched:
        listed = ", ".join(repr(n) for n in unmatched[:SHOWN]) + (" ..." if len(unmatched) > SHOWN else "")
        raise Invalid(f"{source}: {len(unmatched)} row{'s' if len(unmatched) != 1 else ''} name no file of this "
                      f"import ({listed}); nothing was imported", field=source)
    return out
