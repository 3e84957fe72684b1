"""`concord review decide PROJECT --file decisions.csv --reviewer EMAIL` against a real database."""
from __future__ import annotations

import json
from pathlib import Path

from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from app.cli import root
from app.review.models import FinalLabel, Resolution
from tests.review.scene import Scene, make_scene


def seeded(engine: Engine) -> tuple[Scene, list[str]]:
    with Session(engine, expire_on_commit=False) as db:
        s = make_scene(db, name="CLI line")
        s.reviewer.email = "rita@example.com"
        names = []
        for answers, consensus in ((["dent", "pit"], "dent"), (["ok", "scratch"], "ok"), (["pit", "pit"], None)):
            image = s.disputed(answers, consensus=consensus)[0]
            names.append(image.file_name)
        db.commit()
        return s, names


def run(*args: str) -> object:
    return CliRunner().invoke(root, list(args), catch_exceptions=False)


def test_decide_applies_every_row_under_the_named_reviewer(cli_env: Engine, tmp_path: Path) -> None:
    s, names = seeded(cli_env)
    decisions = tmp_path / "decisions.csv"
    decisions.write_text(f"file_name,final_class,note\n{names[0]},pit,round\n{names[1]},ok,\n{names[2]},pit,\n")
    result = run("review", "decide", "CLI line", "--file", str(decisions), "--reviewer", "rita@example.com", "--json")
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["applied"] == 3
    with Session(cli_env) as db:
        rows = db.execute(select(Resolution.reviewer_id, Resolution.decision, Resolution.reason)
                          .order_by(Resolution.id)).all()
        assert rows == [(s.reviewer.id, "edit", "round"), (s.reviewer.id, "accept_consensus", ""),
                        (s.reviewer.id, "edit", "")]
        assert db.scalar(select(func.count()).select_from(FinalLabel).where(FinalLabel.source == "review")) == 3


def test_a_bad_file_applies_nothing_and_names_each_bad_row(cli_env: Engine, tmp_path: Path) -> None:
    _, names = seeded(cli_env)
    decisions = tmp_path / "decisions.csv"
    decisions.write_text(f"file_name,final_class\n{names[0]},pit\nmissing.jpg,pit\n{names[1]},blue\n{names[2]},ok\n")
    result = run("review", "decide", "CLI line", "--file", str(decisions), "--reviewer", "rita@example.com", "--json")
    assert result.exit_code == 1
    report = json.loads(result.stdout)
    assert report["applied"] == 0
    assert [(e["row"], e["file_name"]) for e in report["errors"]] == [(3, "missing.jpg"), (4, names[1])]
    assert "unknown class 'blue'" in report["errors"][1]["message"]
    with Session(cli_env) as db:
        assert db.scalar(select(func.count()).select_from(Resolution)) == 0


def test_the_header_and_the_reviewer_are_checked(cli_env: Engine, tmp_path: Path) -> None:
    s, names = seeded(cli_env)
    wrong = tmp_path / "wrong.csv"
    wrong.write_text(f"image,class\n{names[0]},pit\n")
    result = run("review", "decide", "CLI line", "--file", str(wrong), "--reviewer", "rita@example.com")
    assert result.exit_code == 1 and "file_name,final_class" in result.output
    good = tmp_path / "good.csv"
    good.write_text(f"file_name,final_class\n{names[0]},pit\n")
    labeler = run("review", "decide", "CLI line", "--file", str(good), "--reviewer", s.labelers[0].email)
    assert labeler.exit_code == 1 and "is not a reviewer" in labeler.output
    dry = run("review", "decide", "CLI line", "--file", str(good), "--reviewer", "rita@example.com", "--dry-run")
    assert dry.exit_code == 0
    with Session(cli_env) as db:
        assert db.scalar(select(func.count()).select_from(Resolution)) == 0
