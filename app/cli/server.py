"""`concord serve`."""
from __future__ import annotations

import typer
import uvicorn

from app.cli._common import fail, settings
from app.core.errors import ConfigError
from app.core.startup import check_schema, connect
from app.core.storage import make_storage


def serve(
    host: str = typer.Option("127.0.0.1", help="Address to listen on (0.0.0.0 for every interface)"),
    port: int = typer.Option(8000, help="Port"),
    workers: int = typer.Option(1, help="Worker processes"),
    proxy_headers: bool = typer.Option(False, help="Trust X-Forwarded-* from a reverse proxy"),
) -> None:
    """Serve the web app and the API."""
    run_server(host=host, port=port, workers=workers, proxy_headers=proxy_headers)


def run_server(*, host: str, port: int, workers: int = 1, proxy_headers: bool = False) -> None:
    try:
        current = settings()
        engine = connect(current)
        check_schema(engine)
        engine.dispose()
        make_storage(current)  # a bad storage setting stops here with one line, not a traceback
    except ConfigError as exc:
        fail(str(exc), code=2)
    uvicorn.run("app.main:create_app", factory=True, host=host, port=port, workers=workers,
                proxy_headers=proxy_headers, forwarded_allow_ips="*" if proxy_headers else None)


def register(root: typer.Typer) -> None:
    root.command("serve")(serve)
