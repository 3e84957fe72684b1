"""Shared by the crash tests and benchmarks (#39): a world to crash in, an HTTP client that survives a dead
server, `concord fsck` run the way an operator runs it, and for kills at random moments a client that
keeps working through them with a ledger of what it was told was stored, checked against the database
and the store afterwards."""
from __future__ import annotations

import hashlib
import json
import random
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import httpx
import pytest
from sqlalchemy import Engine, func, select
from typer.testing import CliRunner

from app.auth import service as auth_service
from app.auth import tokens
from app.auth.models import Role
from app.cli import root
from app.core.config import get_settings
from app.core.db import make_sessionmaker
from app.core.storage import LocalStorage
from app.images.models import Image
from app.labeling.models import Annotation
from tests.factories import class_named, image_bytes, make_project
from tests.support.databases import engine_url


@dataclass(frozen=True)
class World:
    project_id: int
    ok_class_id: int
    admin_token: str
    labeler_token: str
    labeler_id: int


def seed(engine: Engine, *, labels_per_image: int = 1) -> World:
    with make_sessionmaker(engine)() as db:
        project = make_project(db, labels_per_image=labels_per_image)
        admin = auth_service.create_user(db, email="admin@example.com", display_name="Admin", password=None)
        labeler = auth_service.create_user(db, email="labeler@example.com", display_name="Labeler", password=None)
        auth_service.set_membership(db, project_id=project.id, user=admin, role=Role.admin, actor=None)
        auth_service.set_membership(db, project_id=project.id, user=labeler, role=Role.inspector, actor=None)
        world = World(project.id, class_named(db, project, "ok").id,
                      tokens.create_token(db, user=admin, name="crash", actor=None, max_days=90)[1],
                      tokens.create_token(db, user=labeler, name="crash", actor=None, max_days=90)[1], labeler.id)
        db.commit()
    return world


def client(base_url: str, token: str) -> httpx.Client:
    return httpx.Client(base_url=base_url, headers={"Authorization": f"Bearer {token}"}, timeout=30)


def upload(http: httpx.Client, world: World, name: str, data: bytes) -> httpx.Response:
    return http.post(f"/api/v1/projects/{world.project_id}/images", files=[("files", (name, data, "image/png"))])


def next_assignment(http: httpx.Client, world: World) -> dict[str, Any] | None:
    got = http.post(f"/api/v1/projects/{world.project_id}/assignments/next", json={})
    assert got.status_code == 200, got.text
    return got.json()["assignment"]  # type: ignore[no-any-return]


def submit(http: httpx.Client, world: World, assignment_id: int, key: str) -> httpx.Response:
    return http.post(f"/api/v1/projects/{world.project_id}/assignments/{assignment_id}/annotation",
                     json={"label_class_id": world.ok_class_id, "idempotency_key": key})


def cut_off(call: Any) -> None:
    """`call()` must die with the server: no answer at all (the connection is dropped)."""
    with pytest.raises(httpx.TransportError):
        call()


def fsck(engine: Engine, data_dir: Path, monkeypatch: pytest.MonkeyPatch | None = None, *,
         fix: bool) -> dict[str, Any]:
    """`concord fsck [--fix] --min-age 0 --json` against the server's database and data dir."""
    with (monkeypatch or pytest.MonkeyPatch()).context() as env:
        env.setenv("CONCORD_DATABASE_URL", engine_url(engine))
        env.setenv("CONCORD_DATA_DIR", str(data_dir))
        get_settings.cache_clear()
        try:
            done = CliRunner().invoke(root, ["fsck", *(["--fix"] if fix else []), "--min-age", "0", "--json"])
        finally:
            get_settings.cache_clear()
    assert done.exit_code in (0, 1), done.output
    return json.loads(done.stdout)  # type: ignore[no-any-return]


def images_with(engine: Engine, sha256: str) -> list[int]:
    with make_sessionmaker(engine)() as db:
        return list(db.scalars(select(Image.id).where(Image.sha256 == sha256)))


def annotations_with(engine: Engine, key: str) -> list[int]:
    with make_sessionmaker(engine)() as db:
        return list(db.scalars(select(Annotation.id).where(Annotation.idempotency_key == key)))


def count(engine: Engine, model: Any) -> int:
    with make_sessionmaker(engine)() as db:
        return int(db.scalar(select(func.count()).select_from(model)) or 0)


def media(data_dir: Path) -> set[str]:
    return set(LocalStorage(data_dir / "media").keys())


def staged(data_dir: Path) -> list[str]:
    tmp = data_dir / "tmp"
    return sorted(p.name for p in tmp.iterdir()) if tmp.is_dir() else []


# ---- kills at random moments --------------------------------------------------------------------

def answered(http: httpx.Client, method: str, url: str, *, deadline: float, pause: float = 0.2,
             observe: Callable[[str, float], None] | None = None, **request: Any) -> httpx.Response | None:
    """The first answer that is not a crash symptom, sending the same request (the same file, the same
    idempotency key) again after each dropped connection or 5xx, as a client that wants its write
    acknowledged does; None when `deadline` (time.monotonic()) passed first. `observe(outcome, seconds)`
    hears of every attempt: the status code, or the name of the transport error."""
    while time.monotonic() < deadline:
        started = time.monotonic()
        try:
            response = http.request(method, url, **request)
        except httpx.TransportError as exc:
            outcome = type(exc).__name__
        else:
            outcome = str(response.status_code)
            if response.status_code < 500:
                if observe is not None:
                    observe(outcome, time.monotonic() - started)
                return response
        if observe is not None:
            observe(outcome, time.monotonic() - started)
        time.sleep(pause)
    return None


@dataclass
class Ledger:
    """What the client was told was stored, and what was in flight when the server died."""

    images: dict[str, int] = field(default_factory=dict)  # sha256 -> acknowledged image id
    annotations: dict[str, int] = field(default_factory=dict)  # idempotency key -> acknowledged annotation id
    uploading: bool = False  # an upload request is out (set under `lock`, so a kill sees it)
    kills: int = 0
    uploads_in_flight_at_kills: int = 0
    attempts: Counter[str] = field(default_factory=Counter)  # "upload 200", "submit ConnectError", ...
    errors: list[str] = field(default_factory=list)  # answers a correct server never gives; the client stops
    lock: threading.Lock = field(default_factory=threading.Lock)

    def observer(self, kind: str) -> Callable[[str, float], None]:
        return lambda outcome, _seconds: self.attempts.update([f"{kind} {outcome}"])

    @property
    def retries(self) -> int:
        return sum(n for k, n in self.attempts.items() if not k.split()[1].startswith(("2", "4")))


class Killable(Protocol):
    base_url: str

    def start(self) -> None: ...

    def kill(self) -> None: ...


def colour(n: int) -> tuple[int, int, int]:
    """A distinct colour (so distinct PNG bytes) for each of the first 16 million uploads."""
    return n & 0xFF, (n >> 8) & 0xFF, (n >> 16) & 0xFF


def work(base_url: str, world: World, ledger: Ledger, stop: threading.Event, *, patience: float = 60.0) -> None:
    """One client until `stop` is set: upload a new PNG, claim the next assignment, answer it. Every
    request is retried until it gets an answer (`answered`); a request unanswered for `patience`
    seconds, or an answer no correct server gives, is put in `ledger.errors` and ends the loop."""
    api = f"/api/v1/projects/{world.project_id}"
    with client(base_url, world.admin_token) as admin, client(base_url, world.labeler_token) as labeler:
        def call(http: httpx.Client, kind: str, method: str, url: str, **request: Any) -> dict[str, Any] | None:
            got = answered(http, method, url, deadline=time.monotonic() + patience, pause=0.05,
                           observe=ledger.observer(kind), **request)
            if got is None or got.status_code != 200:
                ledger.errors.append(f"{kind}: " + ("no answer" if got is None else f"{got.status_code} {got.text}"))
                return None
            return got.json()

        n = 0
        while not stop.is_set():
            n += 1
            data = image_bytes(colour=colour(n))
            with ledger.lock:
                ledger.uploading = True
            try:
                stored = call(admin, "upload", "POST", f"{api}/images",
                              files=[("files", (f"{n}.png", data, "image/png"))])
            finally:
                ledger.uploading = False
            if stored is None:
                return
            result = stored["results"][0]
            if result["status"] not in ("stored", "duplicate"):  # a duplicate: the retry of a committed upload
                ledger.errors.append(f"upload: {result}")
                return
            ledger.images[hashlib.sha256(data).hexdigest()] = result["image_id"]
            claimed = call(labeler, "next", "POST", f"{api}/assignments/next", json={})
            if claimed is None:
                return
            if claimed["assignment"] is None:
                continue
            key = f"crash-{n:06d}"
            answer = call(labeler, "submit", "POST", f"{api}/assignments/{claimed['assignment']['id']}/annotation",
                          json={"label_class_id": world.ok_class_id, "idempotency_key": key})
            if answer is None:
                return
            ledger.annotations[key] = answer["id"]


def kill_at_random_moments(server: Killable, world: World, ledger: Ledger, rng: random.Random, *, kills: int,
                           seconds: float | None = None, gap: tuple[float, float] = (0.05, 0.8)) -> None:
    """Run `work` against `server` (running) and SIGKILL it `kills` times, each a random `gap` after
    it came back, stopping early when `seconds` have passed; the server is left running and the
    client's last writes acknowledged."""
    stop = threading.Event()
    errors: list[BaseException] = []

    def client_thread() -> None:
        try:
            work(server.base_url, world, ledger, stop)
        except BaseException as exc:  # a bug in the client: reported by the caller, not lost in a thread
            errors.append(exc)
            ledger.errors.append(f"client: {exc!r}")

    thread = threading.Thread(target=client_thread, daemon=True)
    started = time.monotonic()
    thread.start()
    try:
        for _ in range(kills):
            if seconds is not None and time.monotonic() - started > seconds:
                break
            time.sleep(rng.uniform(*gap))
            if not thread.is_alive():
                break
            with ledger.lock:
                server.kill()
                ledger.kills += 1
                ledger.uploads_in_flight_at_kills += ledger.uploading
            server.start()
    finally:
        time.sleep(0.2)  # some work on a server nobody kills, then the last round to its end
        stop.set()
        thread.join(timeout=120)
    if errors:
        raise errors[0]


@dataclass
class Verdict:
    """check_ledger's findings: `problems` is empty when every promise of #39 held."""

    figures: dict[str, int]
    problems: list[str]


def check_ledger(engine: Engine, data_dir: Path, world: World, ledger: Ledger) -> Verdict:
    """Every acknowledged upload is in the database exactly once with the id the client was given, every
    acknowledged answer too (one row per idempotency key), nothing was stored that the client was not
    told about (it retried everything to the end), no image row points to a missing file, `concord fsck
    --fix --min-age 0` removes every leftover and a second fsck finds nothing, and the leftovers were no
    more than the uploads in flight at the kills: per in-flight upload at most one staged copy, one
    half-written file and one unreferenced image."""
    with make_sessionmaker(engine)() as db:
        images = db.execute(select(Image.sha256, Image.id).where(Image.project_id == world.project_id)).all()
        answers = db.execute(select(Annotation.idempotency_key, Annotation.id)
                             .where(Annotation.labeler_id == world.labeler_id)).all()
    problems = list(ledger.errors)
    lost = duplicated = unacknowledged = 0
    for name, acknowledged, rows in (("image", ledger.images, images), ("annotation", ledger.annotations, answers)):
        found: dict[str, list[int]] = {}
        for key, row_id in rows:
            found.setdefault(str(key), []).append(row_id)
        for key, row_id in acknowledged.items():
            if row_id not in found.get(key, []):
                lost += 1
                problems.append(f"acknowledged {name} {key} (id {row_id}) not stored; rows: {found.get(key)}")
        for key, ids in found.items():
            if len(ids) > 1:
                duplicated += len(ids) - 1
                problems.append(f"{name} {key} stored {len(ids)} times: {ids}")
            elif key not in acknowledged:
                unacknowledged += 1
                problems.append(f"{name} {key} stored but never acknowledged (id {ids[0]})")
    before = fsck(engine, data_dir, fix=True)
    after = fsck(engine, data_dir, fix=False)
    leftovers = {"staged copies": len(before["staged_files"]), "half-written files": len(before["temp_files"]),
                 "unreferenced images": len({Path(k).stem for k in before["orphans"]})}
    orphans = len(before["orphans"]) + len(before["temp_files"]) + len(before["staged_files"])
    if before["missing"]:
        problems.append(f"rows pointing to missing files: {before['missing'][:5]}")
    for what, n in leftovers.items():
        if n > ledger.uploads_in_flight_at_kills:
            problems.append(f"{n} {what} left by {ledger.uploads_in_flight_at_kills} uploads in flight at kills")
    if before["removed"] != orphans or before["young_orphans"]:
        problems.append(f"fsck --fix removed {before['removed']} of {orphans} leftovers: {before}")
    remaining = len(after["orphans"]) + len(after["temp_files"]) + len(after["staged_files"]) + len(after["missing"])
    if remaining or after["young_orphans"]:
        problems.append(f"a second fsck still finds: {after}")
    figures = {
        "kills": ledger.kills, "acknowledged uploads": len(ledger.images),
        "acknowledged answers": len(ledger.annotations), "lost": lost, "duplicated": duplicated,
        "stored unacknowledged": unacknowledged, "rows pointing to missing files": len(before["missing"]),
        "uploads in flight at kills": ledger.uploads_in_flight_at_kills, "orphans before fsck": orphans,
        **{f"{what} before fsck": n for what, n in leftovers.items()},
        "orphans after fsck": remaining, "retried requests": ledger.retries,
    }
    return Verdict(figures, problems)
