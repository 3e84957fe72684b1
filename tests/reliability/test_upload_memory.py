"""Reliability #48, uploads: 20 concurrent 10 MB uploads to a real uvicorn keep its memory under a budget.
A body never sits whole in memory (Starlette spools each file part to a temporary file past 1 MiB, and
app/images/uploads.py copies it in 1 MiB chunks to data_dir/tmp), and at most DECODE_SLOT_COUNT images
are decoded at once, so memory grows with the decode slots, not with the uploads in flight.

Memory is the server process's peak resident set (VmHWM in /proc), reset to its resident set once the
server is warm, so the figure is what the 20 uploads added at their worst moment.
"""
from __future__ import annotations

import contextlib
import io
import threading
from pathlib import Path

import httpx
import numpy as np
import pytest
from PIL import Image

from app.images.uploads import DECODE_SLOT_COUNT
from tests.factories import image_bytes
from tests.reliability import crash
from tests.support.databases import fresh_database
from tests.support.live_server import live_server

UPLOADS, SIDE = 20, 1830  # 1830 x 1830 RGB noise: a PNG of about 10 MB (3.3 Mpx, far under the pixel limit)
MiB = 2**20
# Decoding one image holds its pixels (Pillow keeps RGB at 4 bytes a pixel) and a greyscale copy for the
# perceptual signature, with room for decoder buffers: twice the pixels, per decode slot. Each request
# in flight holds at most Starlette's 1 MiB in-memory spool and one 1 MiB staging chunk. 30 MiB of slack.
# That is 121 MiB with two slots (50-55 MiB measured), while bodies read whole add 20 x 10 MB on top (240
# MiB measured). Without the slots, how many of the 20 decodes overlap depends on timing (120-150 MiB).
BUDGET_MIB = DECODE_SLOT_COUNT * 2 * (4 * SIDE * SIDE / MiB) + UPLOADS * 2 + 30
# glibc raises its mmap threshold as large blocks are freed, and then keeps freed decode buffers cached in
# each thread's arena (up to 8 per core): the resident set would measure that cache, not the upload path.
# A fixed threshold maps and unmaps every block of 1 MiB or more, so resident memory is live memory.
MEASURED_ENV = {"MALLOC_MMAP_THRESHOLD_": str(MiB)}


def noisy_png(seed: int) -> bytes:
    """A PNG that does not compress: its file size is about its raw pixel size."""
    pixels = np.random.default_rng(seed).integers(0, 256, (SIDE, SIDE, 3), dtype=np.uint8)
    out = io.BytesIO()
    Image.fromarray(pixels, mode="RGB").save(out, format="PNG", compress_level=1)
    return out.getvalue()


def memory_kib(pid: int) -> dict[str, int]:
    """VmRSS, VmHWM... of a process, in KiB."""
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key.startswith("Vm"):
            fields[key] = int(value.split()[0])
    return fields


def reset_peak(pid: int) -> None:
    """VmHWM back to the current VmRSS (Linux 4.0+). Where that is refused the peak keeps the warm-up's,
    which only makes the measured growth larger."""
    with contextlib.suppress(OSError):
        Path(f"/proc/{pid}/clear_refs").write_text("5")


def child_pids(pid: int) -> list[str]:
    return [c for task in Path(f"/proc/{pid}/task").iterdir() for c in (task / "children").read_text().split()]


@pytest.mark.slow
def test_twenty_concurrent_10mb_uploads_stay_under_the_memory_budget(tmp_path: Path) -> None:
    bodies = [noisy_png(seed) for seed in range(UPLOADS)]
    assert all(9.5e6 < len(body) < 10.5e6 for body in bodies), [len(body) for body in bodies]
    with fresh_database("sqlite", tmp_path) as engine:
        world = crash.seed(engine)
        # The default max_upload_bytes (50 MiB) lets a 10 MB file in: no limit is changed.
        with live_server(engine, tmp_path / "data", env=MEASURED_ENV) as server:
            pid = server.process.pid
            # The process measured is the one serving: uvicorn itself, with no reloader or worker processes.
            assert "uvicorn" in Path(f"/proc/{pid}/cmdline").read_bytes().decode()
            assert child_pids(pid) == []
            with crash.client(server.base_url, world.admin_token) as admin:
                # A first small upload loads Pillow, numpy, scipy and the thread pool.
                warm = crash.upload(admin, world, "warm.png", image_bytes(640, 480, colour=(5, 6, 7)))
                assert warm.status_code == 200, warm.text
            reset_peak(pid)
            before = memory_kib(pid)
            answers: list[httpx.Response] = []
            barrier = threading.Barrier(UPLOADS)

            def send(n: int) -> None:
                with crash.client(server.base_url, world.admin_token) as http:
                    http.timeout = httpx.Timeout(120)
                    barrier.wait()
                    answers.append(crash.upload(http, world, f"noise-{n}.png", bodies[n]))

            threads = [threading.Thread(target=send, args=(n,)) for n in range(UPLOADS)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(timeout=240)
            after = memory_kib(pid)
        assert len(answers) == UPLOADS
        assert [a.status_code for a in answers] == [200] * UPLOADS, [a.text for a in answers if a.status_code != 200]
        assert [a.json()["results"][0]["status"] for a in answers] == ["stored"] * UPLOADS
        grown_mib = (after["VmHWM"] - before["VmRSS"]) / 1024
        assert grown_mib < BUDGET_MIB, f"peak memory grew by {grown_mib:.0f} MiB (budget {BUDGET_MIB:.0f} MiB)"
