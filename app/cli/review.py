"""`concord review decide PROJECT --file decisions.csv --reviewer EMAIL`,
`concord review flag PROJECT --image ID --note TEXT --reviewer EMAIL`."""
from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

import typer
from rich.table import Table
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from app.auth.models import Role, User
from app.auth.service import project_role
from app.cli import _common
from app.core.errors import ConcordError
from app.projects.models import Project
from app.review import bulk, flags

review_app = typer.Typer(help="Reviewers' decisions in bulk; flags on images whose label looks wrong.",
                         no_args_is_help=True)
MAX_FILE_BYTES = 50 * 2**20


def _reviewer(db: Session, project: Project, email: str) -> User:
    """The user with `email`, who must be a reviewer (or admin) of `project`; else the command fails."""
    person = _common.user(db, email)
    role = project_role(db, user=person, project_id=project.id)
    if role is None or role.rank < Role.reviewer.rank:
        _common.fail(f"{email} is not a reviewer in {project.name}")
    return person


def _report(errors: list[bulk.RowError]) -> None:
    table = Table(title=f"{len(errors)} bad row(s) — nothing was applied", title_justify="left")
    for column in ("line", "file_name", "problem"):
        table.add_column(column)
    for error in errors:
        table.add_row(str(error.row), error.file_name, error.message)
    _common.console.print(table)


@review_app.command("decide")
def decide(
    project: str = typer.Argument(..., help="Project id or name"),
    file: Path = typer.Option(..., "--file", exists=True, dir_okay=False, readable=True,
                              help="CSV with the header file_name,final_class[,note]"),
    reviewer: str = typer.Option(..., "--reviewer", help="Email of the reviewer the decisions are recorded under"),
    dry_run: bool = typer.Option(False, "--dry-run", help="Check every row, apply nothing"),
    as_json: bool = typer.Option(False, "--json", help="Print the result as JSON"),
) -> None:
    """Decide many images at once: every row is checked first, then all are applied in one
    transaction (a bad row applies nothing and is reported with its line)."""
    if file.stat().st_size > MAX_FILE_BYTES:
        _common.fail(f"{file} is larger than {MAX_FILE_BYTES // 2**20} MB")
    try:
        text = file.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError:
        _common.fail(f"{file} is not UTF-8 text")
    with _common.session() as db:
        found = _common.project(db, project)
        person = _reviewer(db, found, reviewer)
        rows, errors = bulk.parse_csv(text)
        planned, more = bulk.plan(db, project=found, rows=rows)
        errors = sorted(errors + more, key=lambda e: e.row)
        if errors:
            if as_json:
                typer.echo(json.dumps({"applied": 0, "errors": [asdict(e) for e in errors]}, indent=2))
            _report(errors)
            raise typer.Exit(1)
        if dry_run:
            _common.console.print(f"{len(planned)} rows are valid; nothing applied (--dry-run)")
            typer.echo(json.dumps({"applied": 0, "valid": len(planned)}) if as_json else len(planned))
            return
        with _common.progress() as bar:
            task = bar.add_task("deciding", total=len(planned))
            try:
                results = bulk.apply(db, project=found, reviewer=person, planned=planned,
                                     progress=lambda _item: bar.advance(task))
                db.commit()
            except (ConcordError, StaleDataError, IntegrityError) as exc:
                db.rollback()
                message = exc.message if isinstance(exc, ConcordError) else "a conflict changed meanwhile"
                _common.fail(f"{message}; nothing was applied, run it again")
        open_boxes = bulk.boxes_left_open(db, results)
    summary = {"applied": len(results), "resolution_ids": [i for r in results for i in r.resolution_ids],
               "images": sorted({i for r in results for i in r.image_ids}), "boxes_left_open": open_boxes}
    if as_json:
        typer.echo(json.dumps(summary, indent=2))
    else:
        typer.echo(f"decided {len(results)} images under {reviewer}"
                   + (f"; {open_boxes} still have boxes in dispute (review them on the review page)"
                      if open_boxes else ""))


@review_app.command("flag")
def flag(
    project: str = typer.Argument(..., help="Project id or name"),
    image: int = typer.Option(..., "--image", help="Image id"),
    note: str = typer.Option(..., "--note", help="What looks wrong with the label (required)"),
    reviewer: str = typer.Option(..., "--reviewer", help="Email of the reviewer who flags it"),
    as_json: bool = typer.Option(False, "--json", help="Print the result as JSON"),
) -> None:
    """Flag an image for review (even one its labelers all agreed on): a `flagged` conflict goes
    into the review queue near the top, carrying the note."""
    with _common.session() as db:
        found = _common.project(db, project)
        person = _reviewer(db, found, reviewer)
        try:
            conflict = flags.flag_image(db, project=found, image_id=image, reviewer=person, note=note)
            db.commit()
        except ConcordError as exc:
            db.rollback()
            _common.fail(exc.message)
        result = {"conflict_id": conflict.id, "image_id": image, "state": conflict.state,
                  "severity": conflict.severity}
    if as_json:
        typer.echo(json.dumps(result, indent=2))
    else:
        typer.echo(f"flagged image {image}: conflict {result['conflict_id']} is in the review queue")


def register(root: typer.Typer) -> None:
    root.add_typer(review_app, name="review")
