"""`concord dataset freeze|list|diff|datasheet` and `concord export` against a real database."""
from __future__ import annotations

import hashlib
import json
import zipfile
from pathlib import Path

from sqlalchemy import Engine
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from app.cli import root
from tests.datasets.scene import build_scene


def run(*args: str):
    return CliRunner().invoke(root, list(args), catch_exceptions=False)


def test_freeze_list_diff_export_from_the_command_line(cli_env: Engine, tmp_path: Path) -> None:
    with Session(cli_env, expire_on_commit=False) as db:
        scene = build_scene(db, images=40, name="CLI line")
        db.commit()
    frozen = run("dataset", "freeze", "CLI line", "--name", "first", "--classes", "ok,pit,dent",
                 "--slice", "line=L1,L2", "--min-confidence", "0.6", "--split", "0.7,0.2,0.1",
                 "--by", scene.admin.email)
    assert frozen.exit_code == 0, frozen.output
    version = json.loads(frozen.stdout)
    assert version["number"] == 1 and version["filter"]["slices"] == {"line": ["L1", "L2"]}
    assert version["split_spec"]["train"] == 0.7 and version["counts"]["items"] > 0
    assert run("dataset", "freeze", "CLI line", "--name", "second").exit_code == 0
    listed = json.loads(run("dataset", "list", "CLI line", "--json").stdout)
    assert [v["number"] for v in listed] == [2, 1]
    diff = json.loads(run("dataset", "diff", "CLI line", "v1", "second").stdout)
    assert diff["added"] == listed[0]["counts"]["items"] - listed[1]["counts"]["items"] and diff["removed"] == 0
    sheet = run("dataset", "datasheet", "CLI line", "1")
    assert sheet.stdout.startswith("# Datasheet: CLI line, version 1 (first)")
    out = tmp_path / "out" / "v2-coco.zip"
    made = run("export", "CLI line", "--version", "2", "--format", "coco", "--out", str(out))
    assert made.exit_code == 0, made.output
    report = json.loads(made.stdout)
    assert report["sha256"] == hashlib.sha256(out.read_bytes()).hexdigest() and report["version"] == 2
    assert "annotations/instances_train.json" in zipfile.ZipFile(out).namelist()
    again = json.loads(run("export", "CLI line", "-v", "second", "-f", "coco", "-o",
                           str(tmp_path / "again.zip")).stdout)
    assert again["sha256"] == report["sha256"]


def test_cli_errors_are_one_line_and_exit_non_zero(cli_env: Engine, tmp_path: Path) -> None:
    with Session(cli_env) as db:
        build_scene(db, images=10, name="CLI errors")
        db.commit()
    for args in (("dataset", "freeze", "CLI errors", "--name", "x", "--classes", "nope"),
                 ("dataset", "freeze", "CLI errors", "--name", "x", "--split", "0.5,0.5"),
                 ("dataset", "freeze", "nowhere", "--name", "x"),
                 ("export", "CLI errors", "--version", "9", "--format", "csv", "--out", str(tmp_path / "x.zip"))):
        result = run(*args)
        assert result.exit_code != 0, args
        assert "Traceback" not in result.output
    assert not (tmp_path / "x.zip").exists()
