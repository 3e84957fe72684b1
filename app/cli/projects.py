"""`concord project create | stats | add-member`."""
from __future__ import annotations

import json

import typer

from app.auth.models import Role
from app.auth.service import set_membership
from app.cli import _common
from app.projects import service
from app.projects.models import TaskType
from app.projects.stats import project_stats

project_app = typer.Typer(help="Projects and their classes.", no_args_is_help=True)


@project_app.command("create")
def create(
    name: str = typer.Option(..., help="Project name"),
    classes: str = typer.Option(..., help="Comma-separated class names, e.g. ok,scratch,dent,pit"),
    task: TaskType = typer.Option(TaskType.both, help="What labelers give"),
    labels_per_image: int = typer.Option(1, min=1, max=20, help="Labels wanted per image"),
    description: str = typer.Option("", help="One line about the project"),
) -> None:
    """Create a project and print its id."""
    spec = service.ProjectSpec(name=name, classes=service.parse_class_list(classes), task_type=task,
                               description=description, labels_per_image=labels_per_image)
    with _common.session() as db:
        project = service.create_project(db, spec=spec, creator=None)
        db.commit()
        typer.echo(project.id)


@project_app.command("stats")
def stats(
    project: str = typer.Argument(..., help="Project id or name"),
    as_json: bool = typer.Option(False, "--json", help="Print JSON"),
) -> None:
    """Counts of images, annotations, labelers, conflicts and final labels, per class."""
    with _common.session() as db:
        figures = project_stats(db, _common.project(db, project).id)
    if as_json:
        typer.echo(json.dumps(figures.as_dict(), indent=2))
        return
    for key, value in figures.as_dict().items():
        if key != "classes":
            typer.echo(f"{key:>20}: {value}")
    for counts in figures.classes:
        typer.echo(f"{counts.name:>20}: {counts.annotations} labels, {counts.final_labels} final")


@project_app.command("add-member")
def add_member(
    project: str = typer.Argument(..., help="Project id or name"),
    email: str = typer.Option(..., help="The user's email"),
    role: Role = typer.Option(Role.inspector, help="Role in the project"),
) -> None:
    """Add a user to a project, or change their role."""
    with _common.session() as db:
        found = _common.project(db, project)
        set_membership(db, project_id=found.id, user=_common.user(db, email), role=role, actor=None)
        db.commit()
        _common.console.print(f"{email} is now {role} in {found.name}")


def register(root: typer.Typer) -> None:
    root.add_typer(project_app, name="project")
