"""Insecure defaults (#12, #16): no weak secret key starts the app, a cookie signed with another key is
worthless, and there is no default account or password anywhere."""
from __future__ import annotations

import re
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from app.auth import service as auth_service
from app.auth.deps import SESSION_COOKIE
from app.auth.models import User
from app.core.config import EXAMPLE_SECRET_KEY, get_settings
from app.core.errors import ConfigError
from app.core.security import sign
from app.main import create_app
from tests.conftest import make_test_settings
from tests.factories import PASSWORD, make_user
from tests.support.databases import engine_url

REPO = Path(__file__).resolve().parents[2]
WEAK_KEYS = ["", "   ", "short", EXAMPLE_SECRET_KEY, "a" * 64, "0123456789" * 2]


@pytest.mark.parametrize("key", WEAK_KEYS)
def test_the_app_refuses_to_start_with_a_weak_secret_key(engine: object, tmp_path: Path, key: str) -> None:
    settings = make_test_settings(engine_url(engine), tmp_path)  # type: ignore[arg-type]
    settings.secret_key = SecretStr(key)
    with pytest.raises(ConfigError) as refused:
        create_app(settings)
    assert refused.value.setting == "CONCORD_SECRET_KEY"


def test_a_weak_key_file_is_refused_too(engine: object, tmp_path: Path) -> None:
    (tmp_path / "secret_key").write_text(EXAMPLE_SECRET_KEY)
    with pytest.raises(ConfigError):
        create_app(make_test_settings(engine_url(engine), tmp_path))  # type: ignore[arg-type]


@pytest.mark.parametrize("key", ["short", EXAMPLE_SECRET_KEY])
def test_concord_serve_refuses_a_weak_key(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, key: str) -> None:
    from app.cli import root

    monkeypatch.setenv("CONCORD_SECRET_KEY", key)
    monkeypatch.setenv("CONCORD_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("CONCORD_DATABASE_URL", f"sqlite:///{tmp_path / 'x.db'}")
    get_settings.cache_clear()
    try:
        result = CliRunner().invoke(root, ["serve", "--port", "1"])
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 2
    assert "CONCORD_SECRET_KEY" in result.output


def test_an_unset_key_is_generated_random_and_private(engine: object, tmp_path: Path) -> None:
    app = create_app(make_test_settings(engine_url(engine), tmp_path))  # type: ignore[arg-type]
    key_file = tmp_path / "secret_key"
    assert app.state.secret_key == key_file.read_text().strip() and len(app.state.secret_key) >= 48
    assert key_file.stat().st_mode & 0o077 == 0


@pytest.mark.parametrize("key", ["another-random-key-of-the-right-length-0123456789", EXAMPLE_SECRET_KEY])
def test_a_cookie_signed_with_another_key_is_refused(db: Session, app: object, anon: TestClient, key: str) -> None:
    user = make_user(db, password=None)
    _session, token = auth_service.start_session(db, user=user, settings=app.state.settings, ip=None,  # type: ignore[attr-defined]
                                                 user_agent=None)
    anon.cookies.set(SESSION_COOKIE, sign(token, key))
    assert anon.get("/api/v1/me").status_code == 401
    anon.cookies.set(SESSION_COOKIE, token)  # unsigned
    assert anon.get("/api/v1/me").status_code == 401
    anon.cookies.set(SESSION_COOKIE, sign(token, app.state.secret_key))  # type: ignore[attr-defined]
    assert anon.get("/api/v1/me").json()["id"] == user.id


def test_a_fresh_database_has_no_account(db: Session) -> None:
    assert db.scalar(select(func.count()).select_from(User)) == 0


def test_an_account_made_without_a_password_cannot_log_in(db: Session, anon: TestClient) -> None:
    make_user(db, email="imported@example.com", password=None)
    for guess in ("", "admin", "password", PASSWORD, "None"):
        assert auth_service.authenticate_password(db, email="imported@example.com", password=guess) is None


def test_no_default_credentials_in_the_code_or_the_docs() -> None:
    pattern = re.compile(r"(password|passwd|secret_key)\s*[=:]\s*[\"'](admin|password|changeme|secret|123456|concord)"
                         r"[\"']", re.IGNORECASE)
    docs = [REPO / n for n in ("README.md", "docker-compose.yml", "Makefile", "Dockerfile") if (REPO / n).exists()]
    files = [*(REPO / "app").rglob("*.py"), *docs]
    found = [f"{p.relative_to(REPO)}: {m.group(0)}" for p in files for m in pattern.finditer(p.read_text())]
    assert found == []
