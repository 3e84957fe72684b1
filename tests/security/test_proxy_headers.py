"""X-Forwarded-For and X-Forwarded-Host are believed only from CONCORD_TRUSTED_PROXIES (finding 6): a client
reaching the app port directly could claim a new address for each failed login, and per-address
throttling (the guard against guessing many accounts from one place) never triggered."""
from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from app.auth.deps import CROSS_SITE
from app.auth.models import LoginAttempt
from app.core.errors import ConfigError
from app.core.proxy import client_from, parse_trusted
from tests.support.live_server import live_server

LOOPBACK = parse_trusted("127.0.0.1,::1")


@pytest.mark.parametrize(("header", "client"), [
    ("203.0.113.9", "203.0.113.9"),
    ("1.1.1.1, 203.0.113.9", "203.0.113.9"),  # the left hops are whatever the client wrote
    ("203.0.113.9, 127.0.0.1", "203.0.113.9"),  # a second trusted proxy in the chain is skipped
    ("127.0.0.1", "127.0.0.1"),
    ("garbage, [2001:db8::1]", "2001:db8::1"),
    ("", None),
])
def test_the_client_is_the_nearest_hop_that_is_not_a_trusted_proxy(header: str, client: str | None) -> None:
    assert client_from(header, LOOPBACK) == client


def test_a_bad_list_of_proxies_is_a_configuration_error() -> None:
    with pytest.raises(ConfigError, match="CONCORD_TRUSTED_PROXIES"):
        parse_trusted("127.0.0.1,not-an-address")


@pytest.fixture
def proxied(app: FastAPI, anon: TestClient) -> Iterator[FastAPI]:
    saved = app.state.settings
    app.state.settings = saved.model_copy(update={"proxy_headers": True})
    yield app
    app.state.settings = saved


def _login_try(client: TestClient, email: str, headers: dict[str, str]) -> httpx.Response:
    token = client.get("/login").text.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
    return client.post("/login", headers=headers, data={"email": email, "password": "wrong password 1",
                                                        "csrf_token": token})


def test_forwarded_headers_count_only_from_a_trusted_peer(db: Session, proxied: FastAPI) -> None:
    spoof = {"X-Forwarded-For": "198.51.100.7", "X-Forwarded-Host": "public.example",
             "X-Forwarded-Proto": "https", "Origin": "https://public.example"}
    direct = TestClient(proxied, base_url="http://testserver", client=("192.0.2.50", 40000))
    refused = _login_try(direct, "direct@example.com", spoof)
    assert refused.status_code == 403 and CROSS_SITE in refused.text  # the claimed host is not believed
    assert _login_try(direct, "direct@example.com", {"X-Forwarded-For": "198.51.100.7"}).status_code == 401
    via_proxy = TestClient(proxied, base_url="http://testserver", client=("127.0.0.1", 40000))
    assert _login_try(via_proxy, "proxied@example.com", spoof).status_code == 401  # the proxy's word is taken
    where = dict(db.execute(select(LoginAttempt.email, LoginAttempt.ip)).all())
    assert where == {"direct@example.com": "192.0.2.50", "proxied@example.com": "198.51.100.7"}


@pytest.mark.slow
def test_concord_serve_counts_a_direct_clients_tries_under_its_real_address(fresh_engine: Engine,
                                                                            tmp_path: Path) -> None:
    """The real command: `concord serve --proxy-headers` with the proxy elsewhere (10.9.9.9)."""
    env = {"CONCORD_TRUSTED_PROXIES": "10.9.9.9", "CONCORD_LOGIN_MAX_FAILURES": "3"}
    with live_server(fresh_engine, tmp_path / "data", env=env, serve_args=["--proxy-headers"]) as server:
        statuses = []
        with httpx.Client(base_url=server.base_url) as client:
            for n in range(8):
                page = client.get("/login")
                token = page.text.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
                statuses.append(client.post("/login", headers={"X-Forwarded-For": f"198.51.100.{n + 1}"},
                                            data={"email": f"guess{n}@example.com", "password": "wrong password 1",
                                                  "csrf_token": token}).status_code)
        with Session(fresh_engine) as db:
            addresses = set(db.scalars(select(LoginAttempt.ip)))
    assert addresses == {"127.0.0.1"}, f"failed logins counted under claimed addresses {addresses}"
    assert 429 in statuses, statuses  # the address's throttle holds
