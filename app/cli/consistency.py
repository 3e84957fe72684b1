"""`concord consistency PROJECT` (recompute, with a progress bar) and `concord conflicts PROJECT`."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import typer

from app.cli import _common
from app.consistency import reports, service

CSV_FIELDS = ["file_name", "consensus_class", "confidence", "n_labels", "majority_class"]
CSV_HELP = "Write one CSV row per image: " + ", ".join(CSV_FIELDS)


def consistency(project: str = typer.Argument(..., help="Project id or name"),
                as_json: bool = typer.Option(False, "--json", help="Print the project summary as JSON on stdout"),
                consensus_out: Path = typer.Option(None, "--consensus-out", dir_okay=False, help=CSV_HELP)) -> None:
    """Recompute the project's consensus, conflicts, labeler quality and agreement figures."""
    with _common.session() as db:
        found = _common.project(db, project)
        with _common.progress() as bar:
            task = bar.add_task("consistency", total=1000)

            def update(fraction: float, message: str) -> None:
                bar.update(task, completed=int(1000 * min(max(fraction, 0.0), 1.0)), description=message[:60])

            service.recompute_project(db, project_id=found.id, progress=update)
        db.commit()
        summary = reports.agreement_summary(db, project_id=found.id)
        if consensus_out is not None:
            _write_csv(consensus_out, reports.consensus_rows(db, project_id=found.id))
    if as_json:
        typer.echo(json.dumps(summary, indent=2, default=str))
        return
    _print_summary(summary)


def _write_csv(path: Path, rows: Any) -> None:
    temporary = path.with_name(path.name + ".tmp")
    with temporary.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=CSV_FIELDS)
        writer.writeheader()
        for row in rows:
            writer.writerow({k: _cell(v) for k, v in row.items()})
    temporary.replace(path)


def _cell(value: Any) -> Any:
    """Neutralise spreadsheet formulas in names (a class or file called "=cmd()")."""
    return "'" + value if isinstance(value, str) and value[:1] in ("=", "+", "-", "@") else value


def _fmt(value: float | None, digits: int = 3) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def _print_summary(s: dict[str, Any]) -> None:
    typer.echo(f"alpha {_fmt(s['alpha'])}   Fleiss' kappa {_fmt(s['fleiss_kappa'])}   box alpha {_fmt(s['box_alpha'])}"
               f"   {s['n_images']:,} images, {s['n_annotations']:,} labels")
    if s["fleiss_reason"]:
        typer.echo(f"  (Fleiss' kappa: {s['fleiss_reason']})")
    if s["top_pairs"]:
        typer.echo("most confused class pairs:")
        for p in s["top_pairs"]:
            typer.echo(f"  {p['classes'][0]} / {p['classes'][1]}: rate {p['rate']:.2f}, {p['items']} images split")
    typer.echo(f"\n{'labeler':<32} {'labels':>7} {'acc':>6} {'agree':>6} {'gold':>6} {'median s':>9}")
    for q in s["labelers"]:
        seconds = "-" if q["median_duration_ms"] is None else f"{q['median_duration_ms'] / 1000:.1f}"
        typer.echo(f"{q['name'][:32]:<32} {q['n_labels']:>7} {_fmt(q['accuracy'], 2):>6} "
                   f"{_fmt(q['agreement_with_consensus'], 2):>6} {_fmt(q['gold_accuracy'], 2):>6} {seconds:>9}")
    if s["conflicts"]:
        typer.echo("\nopen conflicts: " + ", ".join(f"{k} {n}" for k, n in sorted(s["conflicts"].items())))


def conflicts(project: str = typer.Argument(..., help="Project id or name"),
              as_json: bool = typer.Option(False, "--json", help="Print JSON on stdout"),
              limit: int = typer.Option(None, min=1, help="At most this many, worst first")) -> None:
    """The open conflicts, worst first: kind, severity and image file name."""
    with _common.session() as db:
        rows = reports.open_conflicts(db, project_id=_common.project(db, project).id, limit=limit)
    if as_json:
        typer.echo(json.dumps(rows, indent=2, default=str))
        return
    for row in rows:
        subject = row["file_name"] or f"group {row['duplicate_group_id']}"
        typer.echo(f"{row['severity']:>6.1f}  {row['kind']:<20} {subject:<32} {row['reason']}")
    _common.console.print(f"{len(rows)} open conflict(s)")


def register(root: typer.Typer) -> None:
    root.command("consistency")(consistency)
    root.command("conflicts")(conflicts)
