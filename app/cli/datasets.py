"""`concord dataset freeze | list | diff | datasheet`: frozen dataset versions from the command line."""
from __future__ import annotations

import json

import typer

from app.cli import _common
from app.core.errors import Invalid
from app.datasets import datasheet, service
from app.datasets.schemas import FreezeIn, VersionOut
from app.projects.service import classes_of

dataset_app = typer.Typer(help="Frozen, versioned datasets.", no_args_is_help=True)


def _split(text: str) -> dict[str, float]:
    parts = [p.strip() for p in text.split(",")]
    if len(parts) != 3:
        _common.fail("--split takes three fractions: train,val,test (e.g. 0.8,0.1,0.1)")
    try:
        return dict(zip(("train", "val", "test"), (float(p) for p in parts), strict=True))
    except ValueError:
        _common.fail("--split takes numbers, e.g. 0.8,0.1,0.1")


@dataset_app.command("freeze")
def freeze(
    project: str = typer.Argument(..., help="Project id or name"),
    name: str = typer.Option(..., help="Version name"),
    description: str = typer.Option("", help="What this version is for"),
    classes: str = typer.Option("", help="Only these classes (comma-separated names); default all"),
    slice_: list[str] = typer.Option([], "--slice", help="Metadata slice key=v1,v2 (repeatable)"),
    min_confidence: float | None = typer.Option(None, min=0.0, max=1.0, help="Minimum consensus confidence"),
    keep_ambiguous: bool = typer.Option(False, help="Keep images a reviewer marked ambiguous"),
    keep_unresolved: bool = typer.Option(False, help="Keep images with an open conflict about their class"),
    keep_box_disputes: bool = typer.Option(False, help="Keep images whose class is decided but whose boxes are still "
                                           "disputed (with the boxes a majority of their labelers drew)"),
    include_augmented: bool = typer.Option(False, help="Include augmented images"),
    split: str = typer.Option("0.8,0.1,0.1", help="train,val,test fractions for new images"),
    seed: int = typer.Option(0, min=0, help="Seed of the split order"),
    by: str = typer.Option("", help="Email of the admin freezing it (recorded in the audit trail)"),
) -> None:
    """Freeze the project's decided labels into a new immutable version; prints it as JSON."""
    from app.datasets.pages import parse_slices

    with _common.session() as db:
        found = _common.project(db, project)
        by_name = {c.name: c.id for c in classes_of(db, found.id, include_inactive=True)}
        wanted = [n.strip() for n in classes.split(",") if n.strip()]
        unknown = [n for n in wanted if n not in by_name]
        if unknown:
            raise Invalid(f"unknown class(es): {', '.join(unknown)}", field="classes")
        spec = FreezeIn.model_validate({
            "name": name, "description": description, "split": {**_split(split), "seed": seed},
            "filter": {"exclude_ambiguous": not keep_ambiguous, "exclude_unresolved": not keep_unresolved,
                       "exclude_box_disputes": not keep_box_disputes,
                       "include_augmented": include_augmented, "min_confidence": min_confidence,
                       "class_ids": [by_name[n] for n in wanted] or None, "slices": parse_slices("\n".join(slice_))},
        })
        user = _common.user(db, by) if by else None
        with _common.progress() as bar:
            task = bar.add_task(f"freeze {spec.name}", total=100)
            version = service.freeze_version(
                db, project=found, spec=spec, user=user,
                progress=lambda fraction, message: bar.update(task, completed=round(100 * fraction)))
            bar.update(task, completed=100)
        db.commit()
        typer.echo(VersionOut.model_validate(version).model_dump_json(indent=2))


@dataset_app.command("list")
def list_versions(project: str = typer.Argument(..., help="Project id or name"),
                  as_json: bool = typer.Option(False, "--json", help="Print JSON")) -> None:
    """The project's versions, newest first."""
    with _common.session() as db:
        versions = service.list_versions(db, _common.project(db, project).id)
        rows = [VersionOut.model_validate(v).model_dump(mode="json") for v in versions]
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
        return
    for row in rows:
        splits = row["counts"].get("splits", {})
        typer.echo(f"v{row['number']:<4} {row['name'][:30]:<30} {row['counts'].get('items', 0):>8} images  "
                   f"train {splits.get('train', 0)} val {splits.get('val', 0)} test {splits.get('test', 0)}  "
                   f"{row['content_hash'][:12]}")


@dataset_app.command("diff")
def diff(project: str = typer.Argument(..., help="Project id or name"),
         before: str = typer.Argument(..., help="Older version (number or name)"),
         after: str = typer.Argument(..., help="Newer version (number or name)")) -> None:
    """Images added, removed and relabeled between two versions, as JSON."""
    with _common.session() as db:
        project_id = _common.project(db, project).id
        a, b = service.find_version(db, project_id, before), service.find_version(db, project_id, after)
        typer.echo(json.dumps(service.diff(db, project_id, before_id=a.id, after_id=b.id).as_dict(), indent=2))


@dataset_app.command("datasheet")
def show_datasheet(project: str = typer.Argument(..., help="Project id or name"),
                   version: str = typer.Argument(..., help="Version number or name"),
                   as_json: bool = typer.Option(False, "--json", help="JSON instead of Markdown")) -> None:
    """Print a version's datasheet."""
    with _common.session() as db:
        found = _common.project(db, project)
        v = service.find_version(db, found.id, version)
        typer.echo(datasheet.to_json(v, found.name) if as_json else datasheet.to_markdown(v, found.name), nl=False)


def register(root: typer.Typer) -> None:
    root.add_typer(dataset_app, name="dataset")
