"""`concord serve`."""
from __future__ import annotations

import os

import typer
import uvicorn

from app.cli._common import fail, settings
from app.core.config import get_settings
from app.core.errors import ConfigError
from app.core.proxy import parse_trusted
from app.core.startup import check_schema, connect
from app.core.storage import make_storage


def serve(
    host: str = typer.Option("127.0.0.1", help="Address to listen on (0.0.0.0 for every interface)"),
    port: int = typer.Option(8000, help="Port"),
    workers: int = typer.Option(1, help="Worker processes"),
    proxy_headers: bool = typer.Option(
        False, help="Believe X-Forwarded-For/-Proto/-Host from the reverse proxies in CONCORD_TRUSTED_PROXIES"
    ),
) -> None:
    """Serve the web app and the API."""
    run_server(host=host, port=port, workers=workers, proxy_headers=proxy_headers)


def run_server(*, host: str, port: int, workers: int = 1, proxy_headers: bool = False) -> None:
    if proxy_headers:  # the app reads it (app/core/proxy.py); worker processes inherit the environment
        os.environ["CONCORD_PROXY_HEADERS"] = "true"
        get_settings.cache_clear()
    try:
        current = settings()
        parse_trusted(current.trusted_proxies)
        engine = connect(current)
        check_schema(engine)
        engine.dispose()
        make_storage(current)  # a bad storage setting stops here with one line, not a traceback
    except ConfigError as exc:
        fail(str(exc), code=2)
    # uvicorn's own handling stays off: it cannot tell the app which peer sent X-Forwarded-Host
    uvicorn.run("app.main:create_app", factory=True, host=host, port=port, workers=workers, proxy_headers=False)


def register(root: typer.Typer) -> None:
    root.command("serve")(serve)
