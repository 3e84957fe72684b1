"""`concord model recipes | train | runs | show | predictions`: model runs on frozen dataset versions."""
from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Any

import typer
from sqlalchemy.orm import Session

from app.cli import _common
from app.core.config import Settings
from app.core.db import read_only_session
from app.core.storage import make_storage
from app.datasets import service as datasets_service
from app.modeling import backbones, predictions_csv, service
from app.modeling.models import ModelRun, RunState
from app.modeling.schemas import RunOut

model_app = typer.Typer(help="Model runs: train a recipe on a dataset version, read its metrics and predictions.",
                        no_args_is_help=True)
JSON_OPTION = typer.Option(False, "--json", help="Print JSON on stdout")
POLL_SECONDS = 0.2


def _echo_json(body: Any) -> None:
    typer.echo(json.dumps(body, indent=2, default=str))


def _run_json(db: Session, run: ModelRun) -> dict[str, Any]:
    return RunOut.of(run, service.run_job(db, run)).model_dump(mode="json")


@model_app.command("recipes")
def recipes(as_json: bool = JSON_OPTION) -> None:
    """The recipes a run can use, the default first."""
    listed = service.recipes_list()
    if as_json:
        _echo_json(listed)
        return
    for recipe in listed:
        needs = "  (needs --backbone FILE.onnx)" if recipe["needs_backbone"] else ""
        typer.echo(f"{recipe['name']:<14} v{recipe['version']:<4} {recipe['description']}{needs}")


@model_app.command("train")
def train(project: str = typer.Argument(..., help="Project id or name"),
          version: str = typer.Option(..., "--version", help="Dataset version: number (3, v3) or name"),
          recipe: str = typer.Option(None, help="Recipe name (default: the default recipe)"),
          seed: int = typer.Option(0, min=0, max=service.MAX_SEED, help="Seed of the folds and the bootstrap"),
          folds: int = typer.Option(5, min=2, max=service.MAX_FOLDS, help="Folds of the out-of-fold predictions"),
          backbone: Path = typer.Option(None, exists=True, dir_okay=False, readable=True,
                                        help="A pretrained ONNX image model (the onnx-linear recipe)"),
          wait: bool = typer.Option(False, "--wait", help="Run the training here (or wait for a worker) and "
                                                          "show its progress"),
          by: str = typer.Option("", help="Email of the admin starting it (recorded on the run)"),
          as_json: bool = JSON_OPTION) -> None:
    """Queue a run of RECIPE on the version; prints the run id (with --wait, once it has finished)."""
    settings = _common.settings()
    storage = make_storage(settings)
    with _common.session() as db:
        found = _common.project(db, project)
        chosen = datasets_service.find_version(db, found.id, version)
        key = backbones.save(storage, project_id=found.id, data=backbone.read_bytes())["backbone"] if backbone else None
        user = _common.user(db, by) if by else None
        run = service.start_run(db, project_id=found.id, version_id=chosen.id, recipe=recipe, seed=seed, folds=folds,
                                backbone_key=key, storage=storage, user=user)
        db.commit()
        if wait:
            _wait(db, run, settings)
            db.expire_all()  # the worker wrote the run from its own session
        body = _run_json(db, run)
    if as_json:
        _echo_json(body)
    else:
        typer.echo(run.id)
    if wait and body["state"] != RunState.done:
        _common.fail(f"run {body['number']} {body['state']}: {body['error']}")


def _wait(db: Session, run: ModelRun, settings: Settings) -> None:
    """Run queued training jobs in a worker thread of this process (ours among them) and draw the
    run's job progress until the run has finished, whoever ran it."""
    from app.jobs.runner import Worker

    worker = Worker.for_database(settings, make_storage(settings), kinds=[service.JOB_KIND])
    thread = threading.Thread(target=worker.run, kwargs={"once": True}, name="concord-model-train", daemon=True)
    thread.start()
    try:
        with _common.progress() as bar:
            task = bar.add_task(f"run {run.number}", total=1000)
            while True:
                with read_only_session(db) as reader:  # SQLite: a reader never waits for the job's writes
                    current = reader.get_one(ModelRun, run.id)
                    job = service.run_job(reader, current)
                    state, _error = service.effective_state(current, job)
                    if job is not None:
                        bar.update(task, completed=int(1000 * job.progress), description=job.message[:60] or "queued")
                db.rollback()
                if state in service.FINISHED:
                    break
                time.sleep(POLL_SECONDS)
    finally:
        worker.stop()
        thread.join()
        worker.close()


@model_app.command("runs")
def runs(project: str = typer.Argument(..., help="Project id or name"), as_json: bool = JSON_OPTION) -> None:
    """The project's runs, newest first."""
    with _common.session() as db:
        rows = [_run_json(db, r) for r in service.list_runs(db, _common.project(db, project).id)]
    if as_json:
        _echo_json(rows)
        return
    for row in rows:
        accuracy = (row["metrics"].get("evaluation") or {}).get("accuracy", {}).get("value")
        shown = f"{accuracy:.3f}" if accuracy is not None else "-"
        typer.echo(f"run {row['number']:<4} id {row['id']:<6} {row['state']:<9} {row['recipe']:<12} "
                   f"version {row['version_id']:<5} seed {row['seed']:<6} test accuracy {shown}")


@model_app.command("show")
def show(run: str = typer.Argument(..., help="Run id, or project/number"), as_json: bool = JSON_OPTION) -> None:
    """One run: its state, and its metrics once trained."""
    with _common.session() as db:
        body = _run_json(db, service.find_run(db, run))
    if as_json:
        _echo_json(body)
        return
    typer.echo(f"run {body['number']} (id {body['id']}): {body['state']} {body['error']}".rstrip())
    typer.echo(f"recipe {body['recipe']} seed {body['seed']} folds {body['folds']}, version id {body['version_id']}: "
               f"{body['train_count']} training images, {body['eval_count']} test images")
    for name in ("evaluation", "out_of_fold"):
        figures = body["metrics"].get(name)
        if figures:
            typer.echo(f"{name:<12} n={figures['n']:<6} accuracy {_interval(figures['accuracy'])}  "
                       f"macro-F1 {_interval(figures['macro_f1'])}")


def _interval(value: dict[str, float | None]) -> str:
    if value["value"] is None:
        return "-"
    if value["low"] is None or value["high"] is None:
        return f"{value['value']:.3f}"
    return f"{value['value']:.3f} [{value['low']:.3f}, {value['high']:.3f}]"


@model_app.command("predictions")
def predictions(run: str = typer.Argument(..., help="Run id, or project/number"),
                out: Path = typer.Option(..., "--out", dir_okay=False, help="The CSV file to write"),
                as_json: bool = JSON_OPTION) -> None:
    """Write every image's prediction of the run as CSV (columns: see the API's predictions.csv)."""
    with _common.session() as db:
        found = service.find_run(db, run)
        with out.open("w", encoding="utf-8", newline="") as handle, read_only_session(db) as reader:
            for chunk in predictions_csv.lines(reader, found):
                handle.write(chunk)
        summary = {"run_id": found.id, "file": str(out), "rows": service.prediction_count(db, found)}
    if as_json:
        _echo_json(summary)
    else:
        typer.echo(f"{summary['rows']} predictions written to {out}")


def register(root: typer.Typer) -> None:
    root.add_typer(model_app, name="model")
