"""`concord model export | predict`: a run's model taken to the line (ONNX and its card), and batch
inference on a folder of images into a CSV that `concord predictions import` takes back."""
from __future__ import annotations

import json
import os
from pathlib import Path

import typer

from app.cli import _common
from app.core.storage import make_storage
from app.modeling import inference, service
from app.modeling.export import FORMATS, export_run


def export(run: str = typer.Argument(..., help="Run id, or project/number"),
           format: str = typer.Option("onnx", "--format", help="Only onnx: the recipe's whole pipeline"),
           out: Path = typer.Option(..., "--out", dir_okay=False, help="The model file to write, e.g. model.onnx"),
           ) -> None:
    """Write the run's model (ONNX) and its model card next to it (OUT without .onnx + .card.md and .card.json)."""
    if format not in FORMATS:
        _common.fail(f"unknown format {format!r}; the formats are: {', '.join(FORMATS)}", code=2)
    storage = make_storage(_common.settings())
    with _common.session() as db:
        made = export_run(db, storage=storage, run=service.find_run(db, run))
    stem = out.with_suffix("") if out.suffix == ".onnx" else out
    card_md, card_json = stem.with_name(stem.name + ".card.md"), stem.with_name(stem.name + ".card.json")
    for path, body in ((out, made.onnx), (card_md, made.card_markdown.encode()), (card_json, made.card_json.encode())):
        _write(path, body)
    typer.echo(json.dumps({"model": str(out), "card": str(card_md), "card_json": str(card_json),
                           "sha256": made.card["onnx"]["sha256"]}))


def predict(run: str = typer.Argument(..., help="Run id, or project/number"),
            images: Path = typer.Option(..., "--images", file_okay=False, help="Folder of images (searched "
                                        "recursively; file names must be unique)"),
            out: Path = typer.Option(..., "--out", dir_okay=False, help="The CSV file to write"),
            workers: int = typer.Option(2, min=1, max=64, help="Threads decoding and extracting")) -> None:
    """Predict every image in the folder with the run's model. Columns: file_name, predicted_class,
    confidence, then one probability column per class; import it back as the model's suggestions once
    the images are in the project (`concord predictions import`)."""
    storage = make_storage(_common.settings())
    with _common.session() as db:
        found = service.find_run(db, run)
        recipe, model = service.load_model(storage, found)
        class_names = [c["name"] for c in found.classes]
        run_id, number = found.id, found.number
        db.rollback()  # nothing more to read: hold no transaction while predicting
        files = inference.image_files(images)
        with _common.progress() as bar:
            task = bar.add_task(f"run {number}", total=len(files))
            proba = inference.predict_files(recipe, model, files, workers=workers,
                                            progress=lambda f, _m: bar.update(task, completed=int(f * len(files))))
            bar.update(task, completed=len(files))
        partial = out.with_name(out.name + ".partial")
        with partial.open("w", encoding="utf-8", newline="") as handle:
            rows = inference.write_csv(handle, file_names=[f.name for f in files], class_names=class_names,
                                       proba=proba)
        os.replace(partial, out)
    typer.echo(json.dumps({"run": run_id, "file": str(out), "rows": rows}))


def _write(path: Path, body: bytes) -> None:
    """All of the file or none of it (a partial model file must never be taken to the line)."""
    partial = path.with_name(path.name + ".partial")
    partial.write_bytes(body)
    os.replace(partial, path)


def register(root: typer.Typer) -> None:
    from app.cli.model import model_app

    model_app.command("export")(export)
    model_app.command("predict")(predict)
