"""`concord model recipes | train | runs | show | predictions` against a real database and real files."""
from __future__ import annotations

import csv
import json
from pathlib import Path

from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from app.cli import root
from app.core.config import get_settings
from app.core.storage import make_storage
from app.modeling.models import ModelRun
from tests.modeling.scene import build, freeze
from tests.training.engine.test_backbone import conv_backbone


def run(*args: str):  # type: ignore[no-untyped-def]
    return CliRunner().invoke(root, list(args), catch_exceptions=False)


def scene_in(engine: Engine, name: str) -> str:
    settings = get_settings()
    with Session(engine, expire_on_commit=False) as db:
        scene = build(db, storage=make_storage(settings), settings=settings, images=24)
        scene.project.name = name
        freeze(db, scene)
        db.commit()
    return name


def test_train_wait_list_show_and_write_predictions(cli_env: Engine, tmp_path: Path) -> None:
    project = scene_in(cli_env, "CLI models")
    recipes = json.loads(run("model", "recipes", "--json").stdout)
    assert [r["name"] for r in recipes] == ["filterbank", "onnx-linear"]
    assert "filterbank" in run("model", "recipes").stdout

    trained = run("model", "train", project, "--version", "v1", "--seed", "4", "--wait", "--json")
    assert trained.exit_code == 0, trained.output
    body = json.loads(trained.stdout)
    assert (body["state"], body["seed"], body["number"]) == ("done", 4, 1)
    assert body["metrics"]["out_of_fold"]["n"] == body["train_count"] > 0

    queued = run("model", "train", project, "--version", "1")
    assert queued.exit_code == 0, queued.output
    second_id = int(queued.stdout.strip())
    listed = json.loads(run("model", "runs", project, "--json").stdout)
    assert [(r["id"], r["state"]) for r in listed] == [(second_id, "queued"), (body["id"], "done")]
    assert "queued" in run("model", "runs", project).stdout

    shown = json.loads(run("model", "show", f"{project}/1", "--json").stdout)
    assert shown["id"] == body["id"] and shown["metrics"] == body["metrics"]
    assert "accuracy" in run("model", "show", str(body["id"])).stdout

    out = tmp_path / "predictions.csv"
    written = run("model", "predictions", str(body["id"]), "--out", str(out), "--json")
    assert written.exit_code == 0, written.output
    rows = list(csv.DictReader(out.open(encoding="utf-8")))
    assert json.loads(written.stdout)["rows"] == len(rows) == 24
    assert {"p_ok", "p_scratch", "out_of_fold"} <= set(rows[0])


def test_a_backbone_file_trains_the_onnx_recipe(cli_env: Engine, tmp_path: Path) -> None:
    project = scene_in(cli_env, "CLI backbone")
    network = tmp_path / "net.onnx"
    network.write_bytes(conv_backbone(pooled=True))
    trained = run("model", "train", project, "--version", "v1", "--recipe", "onnx-linear", "--backbone",
                  str(network), "--wait", "--json")
    assert trained.exit_code == 0, trained.output
    assert json.loads(trained.stdout)["recipe_identity"]["name"] == "onnx-linear"


def test_refusals_are_one_line_exit_non_zero_and_store_no_run(cli_env: Engine, tmp_path: Path) -> None:
    project = scene_in(cli_env, "CLI refusals")
    broken = tmp_path / "broken.onnx"
    broken.write_bytes(b"not a model")
    for args in (("model", "train", project, "--version", "v9"),
                 ("model", "train", "nowhere", "--version", "v1"),
                 ("model", "train", project, "--version", "v1", "--recipe", "nope"),
                 ("model", "train", project, "--version", "v1", "--recipe", "onnx-linear"),
                 ("model", "train", project, "--version", "v1", "--recipe", "onnx-linear", "--backbone", str(broken)),
                 ("model", "show", "12345"),
                 ("model", "show", f"{project}/7")):
        result = run(*args)
        assert result.exit_code != 0, args
        assert "Traceback" not in result.output and "error:" in result.output, args
    with Session(cli_env) as db:
        assert db.scalar(select(func.count()).select_from(ModelRun)) == 0
