"""Crash safety (reliability #39): SIGKILL a real uvicorn at 50 random moments under load, per database.

One client uploads distinct PNGs and answers its assignments with idempotency keys, retrying each
request cut off by a kill with the same file or key until it is answered, and keeps a ledger of every
acknowledged write (tests/reliability/crash.py). The server is SIGKILLed a random 0.05-0.8 s after
each restart (restarts are forks of a process that has imported the app: tests/reliability/
forked_server.py) until 50 kills or the time budget. Then, against the database and the store:
acknowledged writes lost or duplicated, rows pointing to missing files, leftover files before
`concord fsck --fix --min-age 0` and after it (targets: 0, 0, 0, at most the uploads in flight at the
kills, 0). Exit status 1 when any check fails (the problems go to stderr).

    .venv/bin/python bench/crash.py [--kills 50] [--seconds 90] [--seed N] [--quick]
Prints one JSON object (bench/README.md format) and writes it to bench/results/crash.json.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import random
import shutil
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.reliability import crash  # noqa: E402
from tests.reliability.forked_server import ForkedServer  # noqa: E402
from tests.support.databases import fresh_database, postgres_available  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"
SHOWN = {  # check_ledger's figure -> (the figure's name here, unit)
    "kills": ("trials (SIGKILLs at random moments)", "kills"),
    "acknowledged writes": ("acknowledged writes", "writes"),
    "lost": ("lost acknowledged writes", "writes"),
    "duplicated": ("duplicated writes", "writes"),
    "rows pointing to missing files": ("rows pointing to missing files", "rows"),
    "uploads in flight at kills": ("uploads in flight at kills", "uploads"),
    "orphans before fsck": ("orphans before fsck", "files"),
    "orphans after fsck": ("orphans after fsck", "files"),
}


@contextmanager
def _removed(workdir: Path) -> Iterator[None]:
    try:
        yield
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def run(kind: str, args: argparse.Namespace, seed: int) -> tuple[dict[str, int], list[str], float]:
    workdir = Path(tempfile.mkdtemp(prefix=f"concord-crash-{kind}-"))
    data_dir = workdir / "data"
    with fresh_database(kind, workdir) as engine, _removed(workdir):
        world = crash.seed(engine)
        server = ForkedServer(engine, data_dir)
        ledger = crash.Ledger()
        started = time.monotonic()
        try:
            server.start()
            crash.kill_at_random_moments(server, world, ledger, random.Random(seed), kills=args.kills,
                                         seconds=args.seconds)
        finally:
            server.stop()
        elapsed = time.monotonic() - started
        verdict = crash.check_ledger(engine, data_dir, world, ledger)
    figures = {**verdict.figures,
               "acknowledged writes": verdict.figures["acknowledged uploads"] + verdict.figures["acknowledged answers"]}
    return figures, verdict.problems, elapsed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--kills", type=int, default=50, help="SIGKILLs per database")
    parser.add_argument("--seconds", type=float, default=90, help="time budget per database (fewer kills if short)")
    parser.add_argument("--seed", type=int, default=None, help="of the kill moments (default: random, reported)")
    parser.add_argument("--quick", action="store_true", help="5 kills per database")
    args = parser.parse_args()
    if args.quick:
        args.kills = 5
    seed = args.seed if args.seed is not None else random.randrange(2**32)
    kinds = ["sqlite"] + (["postgres"] if postgres_available() else [])
    figures: list[dict[str, Any]] = []
    details: dict[str, Any] = {}
    failed = False
    for kind in kinds:
        found, problems, elapsed = run(kind, args, seed)
        size = f"{found['kills']} SIGKILLs at random moments, 1 client uploading and answering"
        figures += [{"name": name, "value": found[key], "unit": unit, "size": size, "database": kind,
                     "reference": None} for key, (name, unit) in SHOWN.items()]
        details[kind] = {"figures": found, "problems": problems[:20], "seconds": round(elapsed, 1)}
        for problem in problems:
            print(f"{kind} (seed {seed}): {problem}", file=sys.stderr)
        failed = failed or bool(problems)
    result = {"bench": "crash", "figures": figures, "passed": not failed, "details": details,
              "environment": {"python": platform.python_version(), "cpus": os.cpu_count(), "seed": seed,
                              "databases": kinds}}
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "crash.json").write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result))
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
