"""A local S3: moto in server mode on loopback, started by the tests (no network beyond 127.0.0.1)."""
from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from app.core.config import Settings
from app.core.s3storage import S3Storage

ACCESS_KEY = "concord-test"
SECRET_KEY = "concord-test-secret"  # moto accepts any credentials


@contextmanager
def moto_server() -> Iterator[str]:
    """An S3 endpoint URL served by moto on a free loopback port until the block ends."""
    pytest.importorskip("moto.server", reason="moto[server] is a test dependency")
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


def s3_settings(endpoint: str, data_dir: Path, *, bucket: str | None = None, **overrides: Any) -> dict[str, Any]:
    """Settings (as keyword arguments) for an S3 store in a fresh bucket on `endpoint`."""
    return {"storage_backend": "s3", "s3_endpoint_url": endpoint, "s3_bucket": bucket or new_bucket_name(),
            "s3_access_key_id": ACCESS_KEY, "s3_secret_access_key": SECRET_KEY, "s3_allow_private_endpoint": True,
            "data_dir": data_dir, **overrides}


def s3_env(settings: dict[str, Any]) -> dict[str, str]:
    """The same settings as CONCORD_* environment variables, for a server or CLI subprocess."""
    return {f"CONCORD_{k.upper()}": str(v).lower() if isinstance(v, bool) else str(v)
            for k, v in settings.items() if k.startswith(("s3_", "storage_"))}


def new_bucket_name() -> str:
    return f"concord-test-{uuid.uuid4().hex[:12]}"


def make_s3_storage(endpoint: str, data_dir: Path, **overrides: Any) -> S3Storage:
    storage = S3Storage.from_settings(Settings(**s3_settings(endpoint, data_dir, **overrides)))
    storage.check_bucket(create=True)
    return storage


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    with moto_server() as endpoint:
        yield endpoint
