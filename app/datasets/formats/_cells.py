"""Making user text safe inside the files we write: spreadsheet cells, XML, YAML, folder names."""
from __future__ import annotations

import csv
import io
import json
import re
import unicodedata
from typing import Any

# A cell starting with one of these is a formula to Excel, LibreOffice and Google Sheets (OWASP:
# CSV injection); tab and carriage return start one too in some of them.
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
# Characters XML 1.0 cannot carry at all, escaped or not.
_XML_INVALID = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
_NOT_FOLDER = re.compile(r"[^\w.-]+")


def cell(value: Any) -> Any:
    """A CSV cell: text that would start a formula gets a leading apostrophe; numbers pass as they are."""
    if value is None:
        return ""
    if isinstance(value, str) and value.startswith(FORMULA_START):
        return "'" + value
    return value


def xml_text(value: str) -> str:
    """Text XML can hold (ElementTree escapes &, <, > and quotes; this drops what it cannot escape)."""
    return _XML_INVALID.sub("\ufffd", value)


def one_line(value: str) -> str:
    return " ".join(value.split())


def yaml_string(value: str) -> str:
    """A YAML double-quoted scalar (JSON's string escapes are valid YAML)."""
    return json.dumps(xml_text(value), ensure_ascii=False)


def folder_names(names: list[str]) -> list[str]:
    """Safe, unique folder names for classes, in order: Unicode letters and digits and `._-` (a Chinese
    name stays Chinese), never `.`/`..`, never empty."""
    out: list[str] = []
    for index, name in enumerate(names):
        slug = _NOT_FOLDER.sub("_", unicodedata.normalize("NFC", name)).strip("._-")[:60]
        if not slug or slug in out or not slug[0].isalnum():
            slug = f"class_{index}" + (f"_{slug}" if slug and slug[0].isalnum() else "")
        while slug in out:
            slug = f"{slug}_{index}"
        out.append(slug)
    return out


class CsvRows:
    """CSV rows into a streamed text entry (csv module quoting, `\\n` line ends), in 64 KiB writes."""

    def __init__(self, entry: Any) -> None:
        self._entry = entry
        self._buffer = io.StringIO()
        self._writer = csv.writer(self._buffer, lineterminator="\n")

    def row(self, values: list[Any]) -> None:
        self._writer.writerow(values)
        if self._buffer.tell() > 64 * 1024:
            self.flush()

    def flush(self) -> None:
        self._entry.write(self._buffer.getvalue())
        self._buffer.seek(0)
        self._buffer.truncate()


def csv_text(rows: list[list[Any]]) -> str:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerows(rows)
    return buffer.getvalue()
