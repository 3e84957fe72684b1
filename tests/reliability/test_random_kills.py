"""Reliability #39: SIGKILL of a real uvicorn at random moments under load, on both databases.

One client uploads distinct PNGs and answers its assignments with idempotency keys, retrying every
request cut off by a kill with the same file or the same key until it is answered, and keeps a ledger
of what it was told was stored (tests/reliability/crash.py). The server is killed at three random
moments; afterwards every acknowledged write is in the database exactly once, no row points to a
missing file, and `concord fsck --fix` clears what the kills left. bench/crash.py does the same fifty
times per database and reports the figures.
"""
from __future__ import annotations

import random
from pathlib import Path

import pytest

from tests.reliability import crash
from tests.reliability.forked_server import ForkedServer
from tests.support.databases import fresh_database


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["sqlite", "postgres"])
def test_kills_at_random_moments_lose_and_duplicate_nothing_and_fsck_clears_the_rest(
    kind: str, tmp_path: Path
) -> None:
    seed = random.randrange(2**32)
    data_dir = tmp_path / "data"
    with fresh_database(kind, tmp_path) as engine:
        world = crash.seed(engine)
        server = ForkedServer(engine, data_dir)
        ledger = crash.Ledger()
        try:
            server.start()
            crash.kill_at_random_moments(server, world, ledger, random.Random(seed), kills=3)
        finally:
            server.stop()
        verdict = crash.check_ledger(engine, data_dir, world, ledger)
    assert verdict.problems == [], f"seed {seed}: {verdict.figures}\nserver log:\n{server.log()[-3000:]}"
    assert ledger.kills == 3 and verdict.figures["acknowledged uploads"] > 0, f"seed {seed}: {verdict.figures}"
