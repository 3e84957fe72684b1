"""`concord demo`: migrate, seed a demo project with labels and conflicts, print the login, serve."""
from __future__ import annotations

import typer

from app.cli import _common
from app.cli.server import run_server
from app.core import migrate
from app.core.errors import ConfigError
from app.core.startup import connect
from app.core.storage import make_storage
from app.demo import service


def demo(
    images: int = typer.Option(200, min=20, max=5000, help="Images to generate on first run"),
    host: str = typer.Option("127.0.0.1", help="Address to listen on"),
    port: int = typer.Option(8000, help="Port"),
    serve: bool = typer.Option(True, help="Start the server afterwards"),
) -> None:
    """Create (once) a demo project with simulated inspectors' labels, then serve it."""
    settings = _common.settings()
    try:
        engine = connect(settings)
    except ConfigError as exc:
        _common.fail(str(exc), code=2)
    migrate.upgrade(engine)
    engine.dispose()
    with _common.session() as db, _common.progress() as bar:
        task = bar.add_task("demo data", total=None)

        def report(done: int, total: int, what: str) -> None:
            bar.update(task, description=what, completed=done, total=total)

        logins = service.ensure_accounts(db, settings)
        project = service.ensure_project(db, make_storage(settings), settings, n_images=images, progress=report)
        db.commit()
    url = f"http://{host}:{port}"
    _common.console.print(f"\n[bold]Concord demo[/] — project [cyan]{project.name}[/] at {url}/projects/{project.id}",
                          soft_wrap=True)
    for login in logins:
        _common.console.print(f"  {login.role:>10}: {login.email}  password: {login.password}", highlight=False,
                              soft_wrap=True)
    _common.console.print(f"  (logins are kept in {settings.data_dir / 'demo-logins.json'})\n")
    if serve:
        run_server(host=host, port=port)


def register(root: typer.Typer) -> None:
    root.command("demo")(demo)
