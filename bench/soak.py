"""Soak with crashes: labelers and reviewers over HTTP against a real uvicorn on a fresh Postgres schema,
while the server is SIGKILLed and restarted; then every acknowledged write is looked up in the database.

Each simulated person is a thread with its own HTTP client and API token doing what the pages do.
Labelers: POST .../assignments/next, then POST .../assignments/{id}/annotation with an idempotency key;
a request cut off by a crash (connection refused or reset, 5xx) is retried with the SAME key until it is
acknowledged. Reviewers: GET the conflict queue, POST a decision on the version they saw; a decision
cut off by a crash is retried, and a 409 afterwards is reconciled against the conflict's resolutions
(was it mine?). Clients keep a ledger of every acknowledged write (annotation ids with their keys,
resolution ids with their conflict versions).

Afterwards, against the database: every acknowledged annotation and decision is there exactly once
(lost = acknowledged but missing; duplicated = two rows for one idempotency key, a deliberate resend of
an acknowledged submit not answered with that same row, or two resolutions of one conflict version),
no open assignment is past its expiry after a last claim (assignment timeout: 1 minute), and every
image's slot count equals its open+done regular assignments. Exit status 1 when any of these fails.

Not part of `make bench` (bench/run_all.py skips it): it runs for minutes and kills servers.
    .venv/bin/python bench/soak.py [--seconds 180] [--labelers 8] [--reviewers 2] [--kills 5] [--quick]
Prints one JSON object (bench/README.md format) and writes it to bench/results/soak.json.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import random
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import httpx  # noqa: E402
from sqlalchemy import Engine, func, insert, select, text  # noqa: E402

from app.auth import service as auth_service  # noqa: E402
from app.auth import tokens  # noqa: E402
from app.auth.models import Role  # noqa: E402
from app.core.db import make_sessionmaker, utcnow  # noqa: E402
from app.images.models import Image  # noqa: E402
from app.labeling.models import Annotation, Assignment  # noqa: E402
from app.projects import service as project_service  # noqa: E402
from app.review.models import Resolution  # noqa: E402
from tests.reliability import crash  # noqa: E402
from tests.reliability.forked_server import ForkedServer  # noqa: E402
from tests.support.databases import fresh_database, postgres_available  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"
CLASSES = ("ok", "scratch", "dent", "pit", "discoloration")
RESEND = 0.1  # the share of acknowledged submits a labeler sends again with the same key


# ---- the server, killed and restarted ------------------------------------------------------------

class Server(ForkedServer):
    """The server of tests/reliability/forked_server.py; `kill_and_restart()` SIGKILLs it (no shutdown of
    any kind) and starts it again after `pause`."""

    def __init__(self, engine: Engine, data_dir: Path) -> None:
        super().__init__(engine, data_dir, CONCORD_ASSIGNMENT_TIMEOUT_MINUTES="1", CONCORD_JOBS_IN_APP="false")
        self.kills = 0
        self.downtime = 0.0

    def kill_and_restart(self, pause: float) -> None:
        started = time.monotonic()
        self.kill()
        self.kills += 1
        time.sleep(pause)
        self.start()
        self.downtime += time.monotonic() - started


# ---- the ledger ---------------------------------------------------------------------------------

@dataclass
class Ledger:
    """What clients were told was stored; shared by every client thread (appends are atomic in CPython)."""

    annotations: dict[str, tuple[int, int]] = field(default_factory=dict)  # key -> (labeler id, annotation id)
    in_doubt: list[tuple[int, str]] = field(default_factory=list)  # (labeler id, key): sent, never acknowledged
    decisions: list[tuple[int, int, int]] = field(default_factory=list)  # (resolution id, conflict id, version)
    reconciled: int = 0  # decisions acknowledged by finding our own resolution after a retry got 409
    replays: int = 0  # annotation retries answered with the stored row (replayed: true)
    resends: int = 0  # acknowledged submits sent again on purpose (a lost answer, a double Enter)
    resend_mismatches: list[str] = field(default_factory=list)  # ...answered otherwise than by the same row
    latencies: dict[str, list[float]] = field(default_factory=lambda: {"next": [], "submit": [], "queue": [],
                                                                       "decide": []})
    outcomes: Counter[str] = field(default_factory=Counter)

    def record(self, kind: str, outcome: str, seconds: float | None = None) -> None:
        self.outcomes[f"{kind} {outcome}"] += 1
        if seconds is not None and outcome.startswith("2"):
            self.latencies[kind].append(seconds)


class Client:
    """One person's HTTP client: retries requests cut off by a crash, times the ones that get through."""

    def __init__(self, base_url: str, token: str, ledger: Ledger, deadline: float) -> None:
        self.http = httpx.Client(base_url=base_url, headers={"Authorization": f"Bearer {token}"}, timeout=10.0)
        self.ledger = ledger
        self.deadline = deadline

    def call(self, kind: str, method: str, url: str, **kwargs: Any) -> httpx.Response | None:
        """The first answer that is not a crash symptom (None when time ran out first); a write in flight
        at the end gets 30 s to land."""
        return crash.answered(self.http, method, url, deadline=self.deadline + 30,
                              observe=lambda outcome, seconds: self.ledger.record(kind, outcome, seconds), **kwargs)


def labeler(base_url: str, token: str, user_id: int, project_id: int, classes: list[int], ledger: Ledger,
            deadline: float, seed: int) -> None:
    rng = random.Random(seed)
    client = Client(base_url, token, ledger, deadline)
    api = f"/api/v1/projects/{project_id}"
    n = 0
    while time.monotonic() < deadline:
        got = client.call("next", "POST", f"{api}/assignments/next", json={})
        if got is None or got.status_code != 200:
            continue
        assignment = got.json()["assignment"]
        if assignment is None:
            time.sleep(0.5)
            continue
        n += 1
        key = f"soak-{user_id}-{n:06d}"
        image = assignment["image"]
        chosen = rng.choice(classes)
        boxes = [{"x": 10, "y": 10, "w": rng.randint(5, 60), "h": rng.randint(5, 60), "class_id": chosen}] \
            if rng.random() < 0.5 and image["width"] > 80 else []
        body = {"label_class_id": chosen, "boxes": boxes, "idempotency_key": key, "duration_ms": rng.randint(500, 9000),
                "supersedes_id": assignment["supersedes_id"]}
        sent = client.call("submit", "POST", f"{api}/assignments/{assignment['id']}/annotation", json=body)
        if sent is None:
            ledger.in_doubt.append((user_id, key))
        elif sent.status_code == 200:
            answer = sent.json()
            ledger.annotations[key] = (user_id, answer["id"])
            ledger.replays += bool(answer.get("replayed"))
            if rng.random() < RESEND:  # as if the answer had been lost: the same submit again
                again = client.call("submit", "POST", f"{api}/assignments/{assignment['id']}/annotation", json=body)
                ledger.resends += 1
                if again is None or again.status_code != 200 or again.json()["id"] != answer["id"] \
                        or not again.json().get("replayed"):
                    ledger.resend_mismatches.append(key)


def reviewer(base_url: str, token: str, user_id: int, project_id: int, classes: list[int], ledger: Ledger,
             deadline: float, seed: int) -> None:
    rng = random.Random(seed)
    client = Client(base_url, token, ledger, deadline)
    api = f"/api/v1/projects/{project_id}"
    while time.monotonic() < deadline:
        page = client.call("queue", "GET", f"{api}/review/conflicts", params={"limit": 20})
        items = page.json()["items"] if page is not None and page.status_code == 200 else []
        if not items:
            time.sleep(0.5)
            continue
        item = rng.choice(items)
        body = {"decision": "edit", "version": item["version"], "label_class_id": rng.choice(classes), "boxes": [],
                "reason": "soak"}
        tries = 0
        while time.monotonic() < deadline + 30:
            tries += 1
            answer = client.call("decide", "POST", f"{api}/review/conflicts/{item['id']}/decisions", json=body)
            if answer is None:
                break
            if answer.status_code == 201:
                made = answer.json()["resolution"]
                ledger.decisions.append((made["id"], made["conflict_id"], made["conflict_version"]))
                break
            if answer.status_code == 409 and tries > 1:  # after a cut-off attempt: did that one land?
                mine = _my_resolution(client, api, item["id"], user_id, item["version"])
                if mine is not None:
                    ledger.decisions.append((mine["id"], item["id"], item["version"]))
                    ledger.reconciled += 1
            break


def _my_resolution(client: Client, api: str, conflict_id: int, user_id: int, version: int) -> dict[str, Any] | None:
    listed = client.call("queue", "GET", f"{api}/review/conflicts/{conflict_id}/resolutions")
    if listed is None or listed.status_code != 200:
        return None
    return next((r for r in listed.json() if r["reviewer_id"] == user_id and r["conflict_version"] == version), None)


# ---- setup and the checks -------------------------------------------------------------------------

def seed(engine: Engine, *, images: int, labelers: int, reviewers: int) -> dict[str, Any]:
    with make_sessionmaker(engine)() as db:
        spec = project_service.ProjectSpec(name="soak", classes=[project_service.ClassSpec(name=c) for c in CLASSES],
                                           labels_per_image=2)
        project = project_service.create_project(db, spec=spec, creator=None)
        project.settings = {**(project.settings or {}), "min_view_ms": 0}  # machine labelers have no think time
        db.flush()
        db.execute(insert(Image), [
            {"project_id": project.id, "sha256": f"{n:064x}", "file_name": f"img_{n:06d}.jpg", "format": "JPEG",
             "width": 640, "height": 480, "size_bytes": 50_000, "storage_key": f"soak/{n}.jpg", "meta": {},
             "labels_wanted": 2, "slots_taken": 0, "priority": 0} for n in range(images)])
        people: dict[str, list[tuple[int, str]]] = {"labelers": [], "reviewers": []}
        for group, role, count in (("labelers", Role.inspector, labelers), ("reviewers", Role.reviewer, reviewers)):
            for n in range(count):
                user = auth_service.create_user(db, email=f"{group}{n}@soak.example", display_name=f"{group} {n}",
                                                password=None)
                auth_service.set_membership(db, project_id=project.id, user=user, role=role, actor=None)
                raw = tokens.create_token(db, user=user, name="soak", actor=None, max_days=90)[1]
                people[group].append((user.id, raw))
        classes = [c.id for c in project_service.classes_of(db, project.id)]
        db.commit()
        return {"project": project.id, "classes": classes, **people}


def final_claims(server: Server, world: dict[str, Any]) -> None:
    """One more claim per labeler after the run: the queue expires what is past its expiry on a claim."""
    for _, token in world["labelers"]:
        response = httpx.post(f"{server.base_url}/api/v1/projects/{world['project']}/assignments/next", json={},
                              headers={"Authorization": f"Bearer {token}"}, timeout=30)
        response.raise_for_status()


def verify(engine: Engine, ledger: Ledger, project_id: int) -> dict[str, Any]:
    with make_sessionmaker(engine)() as db:
        rows = db.execute(select(Annotation.id, Annotation.labeler_id, Annotation.idempotency_key)
                          .where(Annotation.idempotency_key.like("soak-%"))).all()
        by_key = Counter((labeler_id, key) for _, labeler_id, key in rows)
        ids = {(labeler_id, key): row_id for row_id, labeler_id, key in rows}
        lost_annotations = [k for k, (who, row_id) in ledger.annotations.items() if ids.get((who, k)) != row_id]
        duplicated_annotations = [k for k, n in by_key.items() if n > 1]
        in_doubt_stored = sum(1 for who, key in ledger.in_doubt if (who, key) in ids)
        resolution_ids = set(db.scalars(select(Resolution.id)))
        lost_decisions = [r for r, _, _ in ledger.decisions if r not in resolution_ids]
        per_version = db.execute(select(Resolution.conflict_id, Resolution.conflict_version, func.count())
                                 .group_by(Resolution.conflict_id, Resolution.conflict_version)
                                 .having(func.count() > 1)).all()
        acknowledged_twice = [r for r, n in Counter(r for r, _, _ in ledger.decisions).items() if n > 1]
        now = utcnow()
        stuck = db.scalar(select(func.count()).select_from(Assignment).where(
            Assignment.project_id == project_id, Assignment.state == "open", Assignment.expires_at < now)) or 0
        held = db.execute(text(
            "SELECT i.id, i.slots_taken, i.labels_wanted, "
            " (SELECT count(*) FROM assignments a WHERE a.image_id = i.id AND a.state IN ('open', 'done')"
            "  AND a.returned_by_id IS NULL) AS held FROM images i WHERE i.project_id = :p"), {"p": project_id}).all()
        slot_mismatch = [(i, s, h) for i, s, _, h in held if s != h]
        over_assigned = [(i, h, w) for i, _, w, h in held if h > w]
        answers = db.scalar(select(func.count()).select_from(Annotation)) or 0
    return {
        "acknowledged_annotations": len(ledger.annotations), "acknowledged_decisions": len(ledger.decisions),
        "lost_annotations": len(lost_annotations),
        "duplicated_annotations": len(duplicated_annotations) + len(ledger.resend_mismatches),
        "lost_decisions": len(lost_decisions), "duplicated_decisions": len(per_version) + len(acknowledged_twice),
        "in_doubt_writes": len(ledger.in_doubt), "in_doubt_stored": in_doubt_stored,
        "stuck_assignments": stuck, "slot_mismatches": len(slot_mismatch), "over_assigned_images": len(over_assigned),
        "annotation_rows": answers,
        "examples": {"lost_annotations": lost_annotations[:5], "duplicated_annotations": duplicated_annotations[:5],
                     "lost_decisions": lost_decisions[:5], "duplicated_decisions": [list(r) for r in per_version[:5]],
                     "slot_mismatches": slot_mismatch[:5]},
    }


def percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return round(1000 * ordered[min(len(ordered) - 1, int(q * len(ordered)))], 1)


# ---- the run --------------------------------------------------------------------------------------

def soak(args: argparse.Namespace) -> dict[str, Any]:
    workdir = Path(tempfile.mkdtemp(prefix="concord-soak-"))
    with fresh_database(args.database, workdir) as engine:
        world = seed(engine, images=args.images, labelers=args.labelers, reviewers=args.reviewers)
        (workdir / "data").mkdir(exist_ok=True)
        server = Server(engine, workdir / "data")
        server.start()
        ledger = Ledger()
        started = time.monotonic()
        deadline = started + args.seconds
        people = [threading.Thread(target=labeler, args=(server.base_url, token, uid, world["project"],
                                                         world["classes"], ledger, deadline, n), daemon=True)
                  for n, (uid, token) in enumerate(world["labelers"])]
        people += [threading.Thread(target=reviewer, args=(server.base_url, token, uid, world["project"],
                                                           world["classes"], ledger, deadline, 1000 + n), daemon=True)
                   for n, (uid, token) in enumerate(world["reviewers"])]
        for person in people:
            person.start()
        try:
            rng = random.Random(args.seed)
            for n in range(args.kills):  # evenly spread, jittered: crashes land mid-request at random moments
                at = started + args.seconds * (n + 1) / (args.kills + 1) + rng.uniform(-2, 2)
                time.sleep(max(0.0, at - time.monotonic()))
                server.kill_and_restart(pause=rng.uniform(0.2, 1.5))
            for person in people:
                person.join()
            elapsed = time.monotonic() - started
            final_claims(server, world)
        finally:
            server.stop()
        checks = verify(engine, ledger, world["project"])
    return report(args, ledger, checks, server, elapsed)


def report(args: argparse.Namespace, ledger: Ledger, checks: dict[str, Any], server: Server,
           elapsed: float) -> dict[str, Any]:
    size = (f"{args.labelers} labelers + {args.reviewers} reviewers, {args.seconds} s, {server.kills} SIGKILLs, "
            f"{args.images} images x 2 labels")
    database = args.database
    served = sum(n for k, n in ledger.outcomes.items() if k.split()[1][:1] in "234")
    errors = {k: n for k, n in sorted(ledger.outcomes.items()) if not k.split()[1].startswith("2")}

    def figure(name: str, value: Any, unit: str) -> dict[str, Any]:
        return {"name": name, "value": value, "unit": unit, "size": size, "database": database, "reference": None}

    figures = [
        figure("requests served", served, "requests"),
        figure("acknowledged writes", checks["acknowledged_annotations"] + checks["acknowledged_decisions"], "writes"),
        figure("lost acknowledged writes", checks["lost_annotations"] + checks["lost_decisions"], "writes"),
        figure("duplicated writes", checks["duplicated_annotations"] + checks["duplicated_decisions"], "writes"),
        figure("assignments stuck past expiry", checks["stuck_assignments"], "assignments"),
        figure("server kills survived", server.kills, "kills"),
    ]
    for kind in ("submit", "next", "decide"):
        for q, label in ((0.5, "p50"), (0.95, "p95"), (0.99, "p99")):
            figures.append(figure(f"{kind} latency {label}", percentile(ledger.latencies[kind], q), "ms"))
    ok = all(checks[k] == 0 for k in ("lost_annotations", "duplicated_annotations", "lost_decisions",
                                      "duplicated_decisions", "stuck_assignments", "slot_mismatches"))
    return {"bench": "soak", "figures": figures, "passed": ok, "checks": checks, "errors_by_kind": errors,
            "retries_answered_by_replay": ledger.replays, "decisions_reconciled_after_409": ledger.reconciled,
            "deliberate_resends": ledger.resends, "resends_not_replayed": ledger.resend_mismatches[:5],
            "seconds": round(elapsed, 1), "downtime_seconds": round(server.downtime, 1),
            "throughput_per_second": round(served / elapsed, 1) if elapsed else None,
            "environment": {"python": platform.python_version(), "cpus": os.cpu_count(), "seed": args.seed}}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=int, default=180, help="how long the clients work")
    parser.add_argument("--labelers", type=int, default=8)
    parser.add_argument("--reviewers", type=int, default=2)
    parser.add_argument("--kills", type=int, default=5, help="SIGKILLs of the server, spread over the run (>= 3)")
    parser.add_argument("--images", type=int, default=2000)
    parser.add_argument("--database", choices=("postgres", "sqlite"), default="postgres")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--quick", action="store_true", help="45 s, 4 labelers, 1 reviewer, 400 images")
    args = parser.parse_args()
    if args.quick:
        args.seconds, args.labelers, args.reviewers, args.images = 45, 4, 1, 400
    if args.database == "postgres" and not postgres_available():
        print("Postgres is not answering (CONCORD_TEST_POSTGRES_URL); use --database sqlite", file=sys.stderr)
        return 2
    result = soak(args)
    RESULTS.mkdir(exist_ok=True)
    text_out = json.dumps(result, indent=2)
    (RESULTS / "soak.json").write_text(text_out + "\n")
    print(json.dumps(result))
    return 0 if result["passed"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
