"""The analysis commands, with --json, against a real (committed) database."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from app.cli import root
from app.core.config import get_settings
from tests.factories import class_named, make_annotation, make_image, make_member, make_project
from tests.support.databases import engine_url


@pytest.fixture
def cli_env(fresh_engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("CONCORD_DATABASE_URL", engine_url(fresh_engine))
    monkeypatch.setenv("CONCORD_DATA_DIR", str(tmp_path / "data"))
    get_settings.cache_clear()
    with Session(fresh_engine) as db:
        project = make_project(db, name="cli-analysis", classes=("ok", "scratch"))
        labeler = make_member(db, project, password=None)
        ok, scratch = class_named(db, project, "ok"), class_named(db, project, "scratch")
        for n in range(20):
            image = make_image(db, project, file_name=f"f{n}.jpg", meta={"line": "L1" if n % 2 else "L2"})
            make_annotation(db, image, labeler, ok if n < 10 else scratch)
        db.commit()
    yield tmp_path
    get_settings.cache_clear()


def run(*args: str) -> object:
    return CliRunner().invoke(root, list(args), catch_exceptions=False)


def test_commands_print_json(cli_env: Path) -> None:
    rows = ["file_name,ok,scratch"] + [f"f{n}.jpg,0.9,0.1" if n < 10 else f"f{n}.jpg,0.1,0.9" for n in range(20)]
    rows[3] = "f2.jpg,0.02,0.98"  # labeled ok, the model is sure it is a scratch
    csv = cli_env / "p.csv"
    csv.write_text("\n".join(rows) + "\n")
    imported = run("predictions", "import", "cli-analysis", str(csv), "--model", "m", "--json")
    assert imported.exit_code == 0, imported.output
    assert json.loads(imported.stdout)["rows"] == 20
    issues = run("label-issues", "cli-analysis", "--send", "--json")
    body = json.loads(issues.stdout)
    assert [i["file_name"] for i in body["issues"]] == ["f2.jpg"] and body["sent"]["created"] == 1
    slices = json.loads(run("slices", "cli-analysis", "--json").stdout)
    assert {s["name"] for s in slices["slices"]} >= {"L1", "L2"}
    drift = run("drift", "cli-analysis", "--json")
    assert drift.exit_code == 0 and json.loads(drift.stdout)["n_images"] == 0  # no files behind these rows
    bad = run("augment", "cli-analysis", "--class", "pit", "--per-image", "2")
    assert bad.exit_code == 1 and "no active class" in bad.output
    text = run("slices", "cli-analysis")
    assert text.exit_code == 0 and "Findings:" in text.stdout
