"""`concord model compare | next-steps | send-to-review`: comparing runs and acting on a run's weak spots."""
from __future__ import annotations

import json
from typing import Any

import typer

from app.cli import _common
from app.cli.model import model_app
from app.core.db import read_only_session
from app.core.storage import make_storage
from app.datasets import service as datasets_service
from app.modeling import service
from app.modeling.analysis import comparison_json, run_next_steps, send_run_to_review

JSON_OPTION = typer.Option(False, "--json", help="Print JSON on stdout")


def _echo_json(body: Any) -> None:
    typer.echo(json.dumps(body, indent=2, default=str))


def _iv(delta: dict[str, Any] | None) -> str:
    if delta is None:
        return "—"
    f = lambda x: "—" if x is None else f"{x:+.3f}"  # noqa: E731
    d = delta["delta"]
    a, b = (("—" if v is None else f"{v:.3f}") for v in (delta["a"], delta["b"]))
    return f"{a} -> {b}  {f(d['value'])} [{f(d['low'])}, {f(d['high'])}]"


def compare(run_a: str = typer.Argument(..., help="The first run: id, or project/number"),
            run_b: str = typer.Argument(..., help="The second run (same project)"),
            reference: str = typer.Option(None, "--reference", help="Reference version: number (3, v3) or name; "
                                                                    "default: the newer run's version"),
            split: str = typer.Option("test", help="test: the reference's test split; all: every item"),
            all_labels: bool = typer.Option(False, "--all-labels", help="Also labels no person settled"),
            as_json: bool = JSON_OPTION) -> None:
    """Score both runs on the same reference labels (never on images either trained on): every metric with
    b - a and a paired 95 % interval, per class and slice, and the label changes behind it."""
    storage = make_storage(_common.settings())
    with _common.session() as db:
        a, b = service.find_run(db, run_a), service.find_run(db, run_b)
        if a.project_id != b.project_id:
            _common.fail("the two runs belong to different projects")
        version_id = datasets_service.find_version(db, a.project_id, reference).id if reference else None
        with read_only_session(db) as reader:
            body = comparison_json(reader, storage=storage, project_id=a.project_id, a_id=a.id, b_id=b.id,
                                   reference_version_id=version_id, split=split, settled_only=not all_labels)
    if as_json:
        _echo_json(body)
        return
    ref = body["reference"]
    typer.echo(f"run {body['a']['number']} (version {body['a']['version_number']}) vs run {body['b']['number']} "
               f"(version {body['b']['version_number']}) on {ref['description']}: {body['n']} images"
               + (f" ({ref['dropped']['total']} dropped: a run trained on them)" if ref["dropped"]["total"] else ""))
    typer.echo(f"{'accuracy':<22} {_iv(body['accuracy'])}")
    typer.echo(f"{'macro-F1':<22} {_iv(body['macro_f1'])}")
    for row in body["per_class"]:
        typer.echo(f"{row['name'][:12] + ' recall':<22} {_iv(row['recall'])}   (n={row['support']})")
    for s in body["slices"]:
        typer.echo(f"{(s['dimension'] + ' ' + s['value'])[:21]:<22} {_iv(s['accuracy'])}   (n={s['n']})")
    typer.echo(f"fixed {body['changed']['fixed']}, broken {body['changed']['broken']}")
    for sentence in body["attribution"]["sentences"]:
        typer.echo(f"- {sentence}")


def next_steps(run: str = typer.Argument(..., help="Run id, or project/number"), as_json: bool = JSON_OPTION) -> None:
    """The run's weak classes (by F1) and slices (by accuracy gap), weakest first, with what to do."""
    with _common.session() as db:
        found = service.find_run(db, run)
        body = run_next_steps(db, found.project_id, found.id)
    if as_json:
        _echo_json(body)
        return
    for weak in body["classes"] + body["slices"]:
        typer.echo(f"{weak['kind']:<6} {weak['title']:<24} {weak['detail']}")
    typer.echo(f"send likely label errors to review: concord model send-to-review {found.id}")


def send_to_review(run: str = typer.Argument(..., help="Run id, or project/number"),
                   limit: int = typer.Option(None, min=1, help="Send only the worst N"),
                   as_json: bool = JSON_OPTION) -> None:
    """The run's likely label errors into the review queue, worst first (a reviewer's decision stays)."""
    with _common.session() as db:
        found = service.find_run(db, run)
        result = send_run_to_review(db, project_id=found.project_id, run_id=found.id, actor=None, limit=limit)
        db.commit()
    if as_json:
        _echo_json(result)
        return
    typer.echo(f"review queue: {result['created']} new, {result['updated'] + result['reopened']} updated, "
               f"{result['kept_settled']} already settled, {result['closed']} closed")


def register(root: typer.Typer) -> None:
    """Adds to `concord model` (registered by app.cli.model)."""
    model_app.command("compare")(compare)
    model_app.command("next-steps")(next_steps)
    model_app.command("send-to-review")(send_to_review)
