"""A power cut, simulated (reliability: an acknowledged write survives a power loss).

`shim.c` (LD_PRELOAD) records, before each write to a file under a folder, the bytes it overwrites, and
marks the file durable at each fsync/fdatasync of it. After the process is SIGKILLed, `cut_power`
undoes every write made since each file's last sync, newest first: the folder then holds what a
disk that honours fsync, and keeps nothing else, would hold after the power came back.
"""
from __future__ import annotations

import os
import shutil
import struct
import subprocess
from pathlib import Path

import pytest

SHIM = Path(__file__).with_name("shim.c")
HEADER = struct.Struct("<cIqqI")


def build_shim(out_dir: Path) -> Path:
    """Compile the shim (needs a C compiler; skips without one, fails under CONCORD_REQUIRE_SHARED=1
    like the other tests that need the machine's tools)."""
    compiler = shutil.which("cc") or shutil.which("gcc")
    if compiler is None:
        message = "no C compiler for the power-loss shim"
        if os.environ.get("CONCORD_REQUIRE_SHARED") == "1":
            pytest.fail(message)
        pytest.skip(message)
    target = out_dir / "powerloss.so"
    subprocess.run([compiler, "-shared", "-fPIC", "-O2", "-o", str(target), str(SHIM), "-ldl", "-lpthread"],
                   check=True, capture_output=True)
    return target


def environment(shim: Path, folder: Path, log: Path) -> dict[str, str]:
    return {"LD_PRELOAD": str(shim), "POWERLOSS_DIR": str(folder.resolve()), "POWERLOSS_LOG": str(log)}


def cut_power(log: Path) -> dict[str, int]:
    """Undo the unsynced writes the log records (the process that made them must be dead); returns
    how many writes were undone per file name."""
    pending: dict[str, list[tuple[int, int, bytes]]] = {}
    data = log.read_bytes() if log.exists() else b""
    at = 0
    while at < len(data):
        kind, path_len, offset, size_before, data_len = HEADER.unpack_from(data, at)
        at += HEADER.size
        path = data[at:at + path_len].decode()
        at += path_len
        old = data[at:at + data_len]
        at += data_len
        if kind == b"W":
            pending.setdefault(path, []).append((offset, size_before, old))
        else:  # S: everything so far is durable; U: the file is gone
            pending.pop(path, None)
    undone = {}
    for path, writes in pending.items():
        if not os.path.exists(path):
            continue
        with open(path, "r+b") as handle:
            for offset, size_before, old in reversed(writes):
                handle.seek(offset)
                handle.write(old)
                handle.truncate(size_before)
        undone[Path(path).name] = len(writes)
    log.unlink(missing_ok=True)
    return undone
