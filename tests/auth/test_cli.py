"""`concord token create | list | revoke` and `concord user set-password | list` on a real database."""
from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select
from typer.testing import CliRunner

from app.auth.models import ApiToken
from app.core.config import get_settings
from app.core.db import make_sessionmaker
from app.main import create_app
from tests.conftest import make_test_settings
from tests.factories import make_user
from tests.support.databases import engine_url


@pytest.fixture
def concord(fresh_engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[object]:
    """Runs `concord ...` against `fresh_engine` (committed data, as the operator's shell sees it)."""
    from app.cli import root

    monkeypatch.setenv("CONCORD_DATABASE_URL", engine_url(fresh_engine))
    monkeypatch.setenv("CONCORD_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("CONCORD_SECRET_KEY", raising=False)
    get_settings.cache_clear()

    def run(*args: str, stdin: str | None = None) -> object:
        return CliRunner().invoke(root, list(args), input=stdin)

    yield run
    get_settings.cache_clear()


def test_token_create_prints_it_once_and_it_works_until_revoked(concord: object, fresh_engine: Engine,
                                                                tmp_path: Path) -> None:
    with make_sessionmaker(fresh_engine)() as db:
        make_user(db, email="script@example.com", password=None)
        db.commit()
    created = concord("token", "create", "--email", "script@example.com", "--name", "nightly")  # type: ignore[operator]
    assert created.exit_code == 0, created.output
    raw = created.stdout.strip().splitlines()[-1]
    assert raw.startswith("cnc_")
    with make_sessionmaker(fresh_engine)() as db:
        row = db.scalar(select(ApiToken))
        assert row is not None and row.name == "nightly" and raw not in (row.token_hash, row.prefix)
        token_id = row.id

    app = create_app(make_test_settings(engine_url(fresh_engine), tmp_path / "app"))
    with TestClient(app) as client:
        assert client.get("/api/v1/me", headers={"Authorization": f"Bearer {raw}"}).status_code == 200
        listed = concord("token", "list", "--email", "script@example.com")  # type: ignore[operator]
        assert f"{token_id}" in listed.stdout and "active" in listed.stdout and raw not in listed.stdout
        revoked = concord("token", "revoke", str(token_id))  # type: ignore[operator]
        assert revoked.exit_code == 0, revoked.output
        assert client.get("/api/v1/me", headers={"Authorization": f"Bearer {raw}"}).status_code == 401
    assert "revoked" in concord("token", "list", "--email", "script@example.com").stdout  # type: ignore[operator]


def test_token_commands_explain_mistakes(concord: object) -> None:
    unknown = concord("token", "create", "--email", "ghost@example.com")  # type: ignore[operator]
    assert unknown.exit_code == 1 and "no user with email ghost@example.com" in unknown.output
    missing = concord("token", "revoke", "999")  # type: ignore[operator]
    assert missing.exit_code == 1 and "token not found" in missing.output


def test_user_set_password_and_list(concord: object, fresh_engine: Engine) -> None:
    made = concord("user", "create", "--email", "root@example.com", "--name", "Root", "--site-admin",  # type: ignore[operator]
                   "--password-stdin", stdin="first passphrase here\n")
    assert made.exit_code == 0, made.output
    assert concord("user", "set-password", "--email", "root@example.com").exit_code == 1  # type: ignore[operator]
    reset = concord("user", "set-password", "--email", "root@example.com", "--password-stdin",  # type: ignore[operator]
                    stdin="second passphrase here\n")
    assert reset.exit_code == 0, reset.output
    listed = concord("user", "list")  # type: ignore[operator]
    assert "root@example.com" in listed.stdout and "site-admin" in listed.stdout and "$argon2" not in listed.stdout
    from app.auth import service

    with make_sessionmaker(fresh_engine)() as db:
        assert service.authenticate_password(db, email="root@example.com", password="second passphrase here")
