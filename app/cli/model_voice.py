"""`concord model voice PROJECT RUN | --off`: a finished run as one more voice in consensus."""
from __future__ import annotations

import json

import typer
from sqlalchemy import select

from app.cli import _common
from app.consistency import service
from app.modeling.models import ModelRun


def voice(project: str = typer.Argument(..., help="Project id or name"),
          run: int | None = typer.Argument(None, min=1, help="The run's number in the project"),
          off: bool = typer.Option(False, "--off", help="No model voice any more")) -> None:
    """Add the run's predicted class per image to Dawid-Skene consensus as one more labeler (off by
    default: it changes automatic consensus without a person, never a reviewer's decision), and queue
    the consistency recompute."""
    if (run is None) == (not off):
        _common.fail("give a run number, or --off", code=2)
    with _common.session() as db:
        found = _common.project(db, project)
        chosen = None
        if run is not None:
            chosen = db.scalar(select(ModelRun).where(ModelRun.project_id == found.id, ModelRun.number == run))
            if chosen is None:
                _common.fail(f"project {found.name!r} has no run {run}")
        job = service.set_model_voice(db, project=found, run=chosen)
        db.commit()
        typer.echo(json.dumps({"project": found.id, "run": run, "run_id": chosen.id if chosen else None,
                               "job_id": job.id if job is not None else None}))


def register(root: typer.Typer) -> None:
    from app.cli.model import model_app

    model_app.command("voice")(voice)
