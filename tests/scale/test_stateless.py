"""No state in the app process: a login made on one app process works on another (separate data
dirs, as on separate machines, sharing only the database and the secret key), survives a restart of
the process that made it, and a logout on one process ends it on all."""
from __future__ import annotations

import re
from pathlib import Path

import httpx
import pytest
from sqlalchemy import Engine

from tests.factories import PASSWORD, make_user
from tests.support.live_server import live_server
from tests.support.workers import SHARED_SECRET, START_TIMEOUT, app_servers

pytestmark = pytest.mark.slow
CSRF_META = re.compile(r'<meta name="csrf-token" content="([^"]+)"')
CSRF_INPUT = re.compile(r'name="csrf_token" value="([^"]+)"')


def login(base_url: str, email: str) -> httpx.Cookies:
    with httpx.Client(base_url=base_url) as client:
        form = client.get("/login")
        token = CSRF_INPUT.search(form.text)
        assert token, form.text[:500]
        done = client.post("/login", data={"email": email, "password": PASSWORD, "next": "/",
                                           "csrf_token": token.group(1)})
        assert done.status_code == 303, done.text[:500]
        return client.cookies


def home(base_url: str, cookies: httpx.Cookies) -> httpx.Response:
    return httpx.get(base_url + "/", cookies=cookies)


def test_a_session_spans_processes_and_restarts(shared_engine: Engine, tmp_path: Path) -> None:
    from app.core.db import make_sessionmaker

    with make_sessionmaker(shared_engine)() as db:
        user = make_user(db, name="Ada Lovelace")
        db.commit()
        email = user.email

    with app_servers(shared_engine, tmp_path, 2) as (a, b):
        cookies = login(a.base_url, email)
        on_b = home(b.base_url, cookies)
        assert on_b.status_code == 200 and "Ada Lovelace" in on_b.text
        # A browser write on B with the CSRF token A's page carried: the token lives in the session row.
        token = CSRF_META.search(home(a.base_url, cookies).text)
        assert token
        a.process.terminate()
        a.process.wait(timeout=10)
        with live_server(shared_engine, tmp_path / "app-0", env={"CONCORD_SECRET_KEY": SHARED_SECRET},
                         start_timeout=START_TIMEOUT) as again:
            assert home(again.base_url, cookies).status_code == 200  # survives the restart
            out = httpx.post(b.base_url + "/logout", cookies=cookies, headers={"X-CSRF-Token": token.group(1)})
            assert out.status_code == 303
            after = home(again.base_url, cookies)  # the logout on B ended it on the other process too
            assert after.status_code == 303 and after.headers["location"].startswith("/login")
