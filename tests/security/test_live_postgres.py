"""The security review's probes, repeated against the operator's command on the production database:
`concord serve --workers 2` on Postgres, real HTTP, committed data, two worker processes answering in
turn. Roles across two projects and IDOR, CSRF, markup in every text field, injection in every query
parameter, hostile uploads, throttling and flash messages across workers, hostile import files and a
re-sealed backup archive through the CLI against the same database.

The in-process `app` below is built from the same settings as the server (same data dir, so the same
generated secret key): it only lists the routes and signs session cookies; every request goes to the
live server."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from app.auth.deps import CROSS_SITE, CSRF_FAILED
from app.auth.models import LoginAttempt, Role
from app.core.db import make_sessionmaker
from app.images.models import Image
from app.main import create_app
from tests.conftest import make_test_settings
from tests.factories import image_bytes, make_member
from tests.hostile.test_text_fields import EVALUATED, Poisoned, page_routes, poisoned_project
from tests.images import files
from tests.security.fill import FILLERS, PERSONAS, Fill, Side, World, fill_path, path_params, seed_world
from tests.security.route_roles import ROUTE_ROLES, SITE_ADMIN
from tests.security.walk import Caller, all_rows, api_routes, call, describe, sample_body, session_caller
from tests.support.databases import engine_url, fresh_database
from tests.support.live_server import LiveServer, live_server

pytestmark = [pytest.mark.slow, pytest.mark.postgres_only]
SQL_PROBES = ("' OR '1'='1", "1; DROP TABLE users;--", "%27%22", "\x00", "1e309", "-1", "9" * 30, "名前")


@dataclass
class Live:
    server: LiveServer
    app: FastAPI
    sessions: sessionmaker[Session]
    world: World
    callers: dict[str, Caller]
    http: httpx.Client
    tmp: Path


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    tmp = tmp_path_factory.mktemp("live")
    with fresh_database("postgres", tmp) as engine:
        app = create_app(make_test_settings(engine_url(engine), tmp / "data"))
        sessions = make_sessionmaker(engine)
        with sessions() as db:
            world = seed_world(db)
            callers = {p: session_caller(db, app, p, world.user(db, p)) for p in PERSONAS}
            db.commit()
        with live_server(engine, tmp / "data", serve_args=["--workers", "2"], start_timeout=90) as server, \
                httpx.Client(base_url=server.base_url, timeout=60) as http:
            yield Live(server, app, sessions, world, callers, http, tmp)
        app.state.engine.dispose()


def _rows(live: Live) -> dict[str, Any]:
    with live.sessions() as db:
        return all_rows(db)


def test_members_of_a_reach_nothing_of_b(live: Live) -> None:
    """IDOR across projects: A's inspector, reviewer and admin call every route with B's real ids."""
    with live.sessions() as db:
        side_b = live.world.side(db, "b")
        fill = Fill(db, live.app, side_b, actor=side_b.inspector)
        targets = [(route, fill_path(route.path, fill, route.key), sample_body(route, fill))
                   for route in api_routes(live.app) if not route.public and path_params(route.path)]
        db.commit()
    before = _rows(live)
    problems = []
    for persona in ("inspector", "reviewer", "admin"):
        for route, url, body in targets:
            wanted = {403} if ROUTE_ROLES.get(route.key) == SITE_ADMIN else {404}
            response = call(live.http, route, url, live.callers[persona], body=body)
            if response.status_code not in wanted:
                problems.append(f"{persona} {route.key} {url}: {describe(response)}")
    reviewer = live.callers["reviewer"]
    for query in (f"labeler={live.world.b[1]}", f"labeler={live.world.site_admin}", "labeler=999999"):
        for path in (f"/projects/{live.world.a[0]}/feedback", f"/api/v1/projects/{live.world.a[0]}/feedback"):
            url = f"{path}?{query.replace('labeler', 'labeler_id') if '/api/' in path else query}"
            live.http.cookies.clear()
            live.http.cookies.set(*next(iter(reviewer.cookies.items())))
            if (status := live.http.get(url).status_code) != 404:
                problems.append(f"reviewer {url}: {status}")
    assert not problems, "\n".join(problems)
    assert _rows(live) == before, "a refused request changed rows"


def test_forged_writes_are_refused_on_every_route(live: Live) -> None:
    """CSRF: A's admin's own objects, every state-changing route, without the token, with another
    session's token, and with a cross-site Origin: 403, nothing changed."""
    with live.sessions() as db:
        admin = live.world.user(db, "admin")
        fill = Fill(db, live.app, live.world.side(db, "a"), actor=admin)
        targets = [(route, fill_path(route.path, fill, route.key), sample_body(route, fill))
                   for route in api_routes(live.app) if route.state_changing and not route.public]
        db.commit()
    before = _rows(live)
    caller, other = live.callers["admin"], live.callers["reviewer"]
    problems = []
    for route, url, body in targets:
        for name, csrf, headers in (("no token", False, {}), ("another session's token", other.csrf, {}),
                                    ("cross-site origin", True, {"Origin": "https://evil.example"})):
            response = call(live.http, route, url, caller, body=body, csrf=csrf, headers=headers)
            if response.status_code != 403 or not (CSRF_FAILED in response.text or CROSS_SITE in response.text):
                problems.append(f"{route.key} with {name}: {describe(response)}")
    assert not problems, "\n".join(problems)
    assert _rows(live) == before


def test_markup_in_every_text_field_stays_inert_on_every_page(live: Live) -> None:
    with live.sessions() as db:
        poisoned = poisoned_project(db)
        fill = Fill(db, live.app, Side(poisoned.project, poisoned.people["inspector"], poisoned.people["reviewer"],
                                       poisoned.people["admin"]), actor=poisoned.people["admin"])
        urls = [_page_url(route.path, poisoned, fill) for route in page_routes(live.app)]
        callers = {role: session_caller(db, live.app, role, user) for role, user in poisoned.people.items()}
        db.commit()
    problems, shown = [], 0
    for role, caller in callers.items():
        live.http.cookies.clear()
        for name, value in caller.cookies.items():
            live.http.cookies.set(name, value)
        for url in urls:
            response = live.http.get(url, follow_redirects=True)
            if response.status_code >= 500:
                problems.append(f"{role} {url}: {response.status_code}")
            shown += response.status_code == 200
            problems += [f"{role} {url}: raw {raw!r}" for raw in ("<script>alert(", "<img src=x onerror")
                         if raw in response.text]
            if EVALUATED in response.text:
                problems.append(f"{role} {url}: a template expression was evaluated")
    assert not problems, "\n".join(problems)
    assert shown >= 3 * 10, f"only {shown} pages answered: the crawl proves little"


def _page_url(path: str, poisoned: Poisoned, fill: Fill) -> str:
    for name in path_params(path):
        value = poisoned.ids[name] if name in poisoned.ids else FILLERS[name](fill)
        path = path.replace(f"{{{name}}}", str(value))
    return path


def test_injection_in_any_query_parameter_is_a_4xx_at_worst(live: Live) -> None:
    with live.sessions() as db:
        fill = Fill(db, live.app, live.world.side(db, "a"), actor=live.world.user(db, "admin"))
        targets = [(route, fill_path(route.path, fill, route.key), [name for name, _ in route.query_params()])
                   for route in api_routes(live.app) if route.method == "GET" and route.query_params()]
        db.commit()
    caller, problems = live.callers["site_admin"], []
    for route, url, names in targets:
        for name in names:
            for probe in SQL_PROBES:
                response = call(live.http, route, f"{url}?{quote(name)}={quote(probe)}", caller)
                if response.status_code >= 500:
                    problems.append(f"{route.key} ?{name}={probe!r}: {describe(response)}")
    assert targets and not problems, "\n".join(problems)


def test_hostile_uploads_are_refused_or_served_inert(live: Live) -> None:
    caller = live.callers["admin"]
    live.http.cookies.clear()
    for name, value in caller.cookies.items():
        live.http.cookies.set(name, value)
    url = f"/api/v1/projects/{live.world.a[0]}/images"
    headers = {"X-CSRF-Token": caller.csrf}
    for name, body, status in (("x.svg", b"<svg xmlns='http://www.w3.org/2000/svg' onload='alert(1)'/>", 415),
                               ("page.html", b"<html><script>alert(1)</script></html>", 415),
                               ("bomb.png", files.png_bomb(), 413)):
        refused = live.http.post(url, headers=headers, files=[("files", (name, body, "image/png"))])
        assert refused.status_code == status, (name, refused.text)
    stored = live.http.post(url, headers=headers, files=[("files", ("poly.html", files.png_html_polyglot(),
                                                                    "text/html"))])
    assert stored.status_code in (200, 201), stored.text
    image_id = stored.json()["results"][0]["image_id"]
    served = live.http.get(f"/projects/{live.world.a[0]}/images/{image_id}/file?download=true")
    assert served.headers["content-type"] == "image/png" and served.headers["x-content-type-options"] == "nosniff"
    assert served.headers["content-disposition"].endswith("poly.html.png")


def test_throttling_and_flash_messages_hold_across_the_two_workers(live: Live) -> None:
    with live.sessions() as db:
        victim = make_member(db, live.world.side(db, "a").project, Role.inspector)
        db.commit()
        email = victim.email

    def guess() -> None:
        with httpx.Client(base_url=live.server.base_url, timeout=60) as client:
            token = client.get("/login").text.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
            client.post("/login", data={"email": email, "password": "a wrong guess 12", "csrf_token": token})

    threads = [threading.Thread(target=guess) for _ in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    with live.sessions() as db:
        failures = db.scalar(select(func.count()).select_from(LoginAttempt).where(LoginAttempt.email == email))
    assert failures is not None and 1 <= failures <= 6, f"{failures} parallel failures went through the throttle"
    assert live.server.log().count("Started server process") == 2, "not two workers"
    caller = live.callers["inspector"]
    for _ in range(4):  # each GET may land on the other worker: the flash is signed with the shared key
        live.http.cookies.clear()
        for name, value in caller.cookies.items():
            live.http.cookies.set(name, value)
        done = live.http.post("/account/sessions/revoke", headers={"X-CSRF-Token": caller.csrf},
                              follow_redirects=False)
        page = live.http.get(done.headers["location"])
        assert "other session" in page.text


def _concord(live: Live, url: str, *args: str, data_dir: Path | None = None) -> subprocess.CompletedProcess[str]:
    """`concord ARGS` on the database at `url` (the live one, or a spare), as the operator runs it."""
    env = {"CONCORD_DATABASE_URL": url, "CONCORD_DATA_DIR": str(data_dir or live.server.data_dir)}
    return subprocess.run([sys.executable, "-m", "app.cli", *args], env={**os.environ, **env}, capture_output=True,
                          text=True, timeout=600)


def test_hostile_import_files_and_a_resealed_backup_are_refused_by_the_cli(live: Live) -> None:
    from tests.security.test_backup_authenticity import an_intruder, reseal

    url = engine_url(live.server.engine)
    root = live.tmp / "export"
    (root / "images").mkdir(parents=True)
    (root / "images" / "a.png").write_bytes(image_bytes())
    (live.tmp / "secret.png").write_bytes(image_bytes(colour=(255, 0, 0)))
    project_id = live.world.a[0]
    with live.sessions() as db:
        before = db.scalar(select(func.count()).select_from(Image).where(Image.project_id == project_id))
    for reference in ("../secret.png", str(live.tmp / "secret.png"), "/data/local-files/?d=../secret.png",
                      "http://169.254.169.254/latest/secret.png"):
        tasks = root / "tasks.json"
        tasks.write_text(json.dumps([{"data": {"image": reference}, "annotations": []}]))
        refused = _concord(live, url, "import", "labelstudio", str(project_id), str(tasks), "--images-root", str(root),
                           "--workers", "1")
        assert refused.returncode == 1 and "nothing was imported" in refused.stderr, (reference, refused.stderr)
    archive = live.tmp / "live.tar"
    made = _concord(live, url, "backup", str(archive))
    assert made.returncode == 0, made.stderr
    reseal(archive, live.tmp / "forged.tar", edit=an_intruder)
    key_file = live.tmp / "backup.key"
    key_file.write_text(_concord(live, url, "backup-key").stdout)
    with fresh_database("postgres", live.tmp) as spare:
        spare_url, spare_dir = engine_url(spare), live.tmp / "spare"
        forged = _concord(live, spare_url, "restore", str(live.tmp / "forged.tar"), "--key-file", str(key_file),
                          data_dir=spare_dir)
        assert forged.returncode == 1 and "signed by backup key" in forged.stderr, forged.stderr
        genuine = _concord(live, spare_url, "restore", str(archive), "--key-file", str(key_file), data_dir=spare_dir)
        assert genuine.returncode == 0, genuine.stderr
    with live.sessions() as db:  # nothing of the refused imports was stored
        assert db.scalar(select(func.count()).select_from(Image).where(Image.project_id == project_id)) == before
