"""Fuzz the metadata CSV reader of `concord import images --metadata`: only its documented failures
may escape (typer.Exit after printing the reason, or Invalid for a bad value)."""
from __future__ import annotations

import contextlib
import io
import tempfile
from pathlib import Path

import atheris
import typer

from app.core.errors import Invalid
from app.images import uploads
from tests.hostile.fuzz.harness import run

# Only the reader's own modules: instrumenting all the CLI imports (rich, typer, the app) is slow.
with atheris.instrument_imports(include=["app.cli.imports"]):
    from app.cli.imports import read_metadata
atheris.instrument_func(uploads.clean_meta)

SEEDS = [
    b"file_name,line,camera,shift\na.jpg,L1,cam-a,day\nsub/b.png,L2,cam-b,night\n",
    b'image,batch,note\r\n"c.jpg",7,"a, quoted ""note"""\r\n',
    b"file_name\n\xc3\xa9t\xc3\xa9.jpg\n",
]
PATH = Path(tempfile.mkdtemp(prefix="fuzz-csv-")) / "metadata.csv"


def test_one_input(data: bytes) -> None:
    PATH.write_bytes(data)
    try:
        with contextlib.redirect_stdout(io.StringIO()):  # the reason printed before typer.Exit
            read_metadata(PATH)
    except (typer.Exit, Invalid):
        pass


if __name__ == "__main__":
    run(test_one_input, SEEDS)
