"""`concord slices | drift | predictions import | label-issues | augment`: the data-centric analysis."""
from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import typer

from app.analysis import service
from app.cli import _common
from app.core.storage import make_storage

predictions_app = typer.Typer(help="Model predictions (per-image class probabilities).", no_args_is_help=True)
JSON_OPTION = typer.Option(False, "--json", help="Print JSON on stdout")


def _echo_json(body: Any) -> None:
    typer.echo(json.dumps(body, indent=2, default=str))


@contextmanager
def _bar(label: str) -> Iterator[Callable[[float, str], None]]:
    """A progress callback drawing a bar on stderr (stdout stays clean for --json)."""
    with _common.progress() as bar:
        task = bar.add_task(label, total=1000)

        def update(fraction: float, message: str) -> None:
            bar.update(task, completed=int(1000 * min(max(fraction, 0.0), 1.0)), description=message[:60])

        yield update


def slices(project: str = typer.Argument(..., help="Project id or name"),
           model: str = typer.Option(None, help="Model whose accuracy to show (default: newest)"),
           top: int = typer.Option(15, min=1, help="Slices to print"),
           as_json: bool = JSON_OPTION) -> None:
    """Figures per metadata slice and the findings: where more or better data helps most."""
    with _common.session() as db:
        body = service.report_json(service.slice_report(db, project_id=_common.project(db, project).id,
                                                        model_name=model))
    if as_json:
        _echo_json(body)
        return
    typer.echo("Findings:")
    for n, finding in enumerate(body["findings"][:10], start=1):
        typer.echo(f"{n:>3}. [{finding['kind']}] {finding['title']}: {finding['detail']}")
        typer.echo(f"     -> {finding['action']}")
    typer.echo(f"\n{'slice':<28} {'images':>6} {'alpha':>6} {'confl':>6} {'model':>6} {'score':>6}  why")
    for s in body["slices"][:top]:
        typer.echo(f"{s['name'][:28]:<28} {s['n']:>6} {_fmt(s['alpha'])} {_fmt(s['conflict_rate'])} "
                   f"{_fmt(s['model_accuracy'])} {s['score']:>6.2f}  {'; '.join(s['reasons'])}")


def _fmt(value: float | None) -> str:
    return f"{value:>6.2f}" if value is not None else f"{'-':>6}"


def drift(project: str = typer.Argument(..., help="Project id or name"),
          reference: int = typer.Option(None, help="Make this upload batch id the reference first"),
          as_json: bool = JSON_OPTION) -> None:
    """Compute image statistics, compare every batch and slice with the reference, flag the drifted ones
    (and move their images forward in the labeling queue)."""
    settings = _common.settings()
    with _common.session() as db:
        found = _common.project(db, project)
        if reference is not None:
            service.set_reference_batch(db, project_id=found.id, batch_id=reference, actor=None)
        with _bar("drift") as update:
            report = service.run_drift(db, storage=make_storage(settings), project_id=found.id, progress=update)
        db.commit()
        body = report.report
    if as_json:
        _echo_json({"id": report.id, **{k: v for k, v in body.items()}})
        return
    typer.echo(f"reference: {body['reference']['name']} ({body['reference']['n']} images); "
               f"flag at {body['threshold']} reference SDs")
    for row in body["batches"]:
        typer.echo(f"batch {row['name']:<24} {row['result']['distance']:>6.2f} {_verdict(row)}")
    for row in body["slices"]:
        if row["result"]["flagged"]:
            typer.echo(f"slice {row['name']:<24} {row['result']['distance']:>6.2f} {_verdict(row)}")
    typer.echo(f"{body['raised_priority']} images moved forward in the labeling queue")


def _verdict(row: dict[str, Any]) -> str:
    if row.get("is_reference"):
        return "reference"
    if not row["result"]["judged"]:
        return "too few images"
    if not row["result"]["flagged"]:
        return "ok"
    return f"DRIFTED ({row['note']})" + (f", explained by {row['explained_by']}" if row.get("explained_by") else "")


@predictions_app.command("import")
def import_predictions(project: str = typer.Argument(..., help="Project id or name"),
                       file: Path = typer.Argument(..., exists=True, dir_okay=False, readable=True,
                                                   help="CSV or JSON of per-image class probabilities"),
                       model: str = typer.Option(None, help="Model name (default: from the JSON, else 'model')"),
                       as_json: bool = JSON_OPTION) -> None:
    """Import per-image class probabilities; all rows or none (a bad row is named)."""
    with _common.session() as db:
        result = service.import_predictions(db, project_id=_common.project(db, project).id, data=file.read_bytes(),
                                            model_name=model, file_name=file.name)
        db.commit()
    if as_json:
        _echo_json(result.as_dict())
        return
    _common.console.print(f"{result.rows} predictions of {result.model_name}: {result.created} new, "
                          f"{result.updated} replaced")


def label_issues(project: str = typer.Argument(..., help="Project id or name"),
                 model: str = typer.Option(None, help="Model name (default: the newest import)"),
                 rank_by: str = typer.Option("self_confidence", help="self_confidence or normalized_margin"),
                 send: bool = typer.Option(False, "--send", help="Send them to the review queue"),
                 top: int = typer.Option(30, min=1, help="Issues to print"),
                 as_json: bool = JSON_OPTION) -> None:
    """Likely label errors by confident learning, worst first; --send makes them review conflicts."""
    with _common.session() as db:
        found = _common.project(db, project)
        report = service.find_issues(db, project_id=found.id, model_name=model, rank_by=rank_by)
        sent = None
        if send:
            sent = service.send_to_review(db, project_id=found.id, actor=None, model_name=model, rank_by=rank_by)
            db.commit()
    if as_json:
        _echo_json({**report.as_dict(), "sent": sent.as_dict() if sent else None})
        return
    typer.echo(f"model {report.model_name}: {len(report.issues)} likely label errors among {report.n_scored} images")
    for issue in report.issues[:top]:
        typer.echo(f"{issue.rank:>4}. image {issue.image_id:<7} {issue.file_name[:30]:<30} label {issue.given:<14} "
                   f"model {issue.suggested:<14} p(label) {issue.self_confidence:.3f}")
    if sent:
        typer.echo(f"review queue: {sent.created} new, {sent.updated + sent.reopened} updated, "
                   f"{sent.kept_settled} already settled, {sent.closed} closed")


def augment(project: str = typer.Argument(..., help="Project id or name"),
            class_name: str = typer.Option(..., "--class", help="The class to augment"),
            per_image: int = typer.Option(..., "--per-image", min=1, max=20, help="Copies per image"),
            seed: int = typer.Option(0, min=0, help="Random seed (same seed, same copies)"),
            as_json: bool = JSON_OPTION) -> None:
    """Augmented copies of every final-labeled image of a class (boxes moved with the pixels)."""
    settings = _common.settings()
    with _common.session() as db:
        found = _common.project(db, project)
        with _bar(f"augment {class_name}") as update:
            result = service.augment_class(db, storage=make_storage(settings), settings=settings, project=found,
                                           class_name=class_name, per_image=per_image, seed=seed, progress=update)
        db.commit()
    if as_json:
        _echo_json(result.as_dict())
        return
    _common.console.print(f"{result.created} augmented copies of {result.sources} {result.class_name} images"
                          + (f" ({result.existing} already there)" if result.existing else ""))


def register(root: typer.Typer) -> None:
    root.command("slices")(slices)
    root.command("drift")(drift)
    root.command("label-issues")(label_issues)
    root.command("augment")(augment)
    root.add_typer(predictions_app, name="predictions")
