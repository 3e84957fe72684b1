"""Named fault points for crash tests (reliability #39): `fault_point("upload.file_written")`.

A process started with CONCORD_FAULT_POINT=<name> SIGKILLs itself the first time it reaches the point
of that name: no exception, no `finally`, no shutdown, exactly what a power cut or the OOM killer does
at that line. Every other process (production included) reads the variable once at import and pays
one comparison with None per point.

The points (grep for `fault_point(` to find them):
- `upload.file_written`  an upload's image and thumbnail are in storage, its row is not committed
- `upload.committed`     the upload's rows are committed, the response is not sent
- `annotation.committed` an answer is committed, the response is not sent
"""
from __future__ import annotations

import os
import signal

ENV = "CONCORD_FAULT_POINT"
ARMED: str | None = os.environ.get(ENV) or None


def fault_point(name: str) -> None:
    """Die here (SIGKILL, this process) when CONCORD_FAULT_POINT names this point; else nothing."""
    if ARMED is not None and name == ARMED:
        os.kill(os.getpid(), signal.SIGKILL)
