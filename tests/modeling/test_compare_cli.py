"""`concord model compare | next-steps | send-to-review` against a real (committed) database."""
from __future__ import annotations

import json

from sqlalchemy import Engine
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from app.cli import root
from tests.modeling.rows import RELABELED, two_runs


def run(*args: str):  # type: ignore[no-untyped-def]
    return CliRunner().invoke(root, list(args), catch_exceptions=False)


def test_compare_prints_the_comparison_and_its_attribution(cli_env: Engine) -> None:
    with Session(cli_env, expire_on_commit=False) as db:
        p = two_runs(db)
        p.project.name = "CLI compare"
        db.commit()
    answer = run("model", "compare", str(p.a.id), "CLI compare/2", "--json")
    assert answer.exit_code == 0, answer.output
    body = json.loads(answer.output)
    assert body["n"] == 28 and body["changed"]["fixed"] == RELABELED and body["reference"]["version_number"] == 2
    assert body["attribution"]["relabeled"] == RELABELED
    text = run("model", "compare", str(p.a.id), str(p.b.id), "--reference", "v1")
    assert text.exit_code == 0, text.output
    assert "on version 1 (v1): test split" in text.output and "accuracy" in text.output
    assert f"{RELABELED} labels corrected to pit" in text.output
    every = json.loads(run("model", "compare", str(p.a.id), str(p.b.id), "--split", "all", "--all-labels",
                           "--json").output)
    assert every["reference"]["dropped"]["total"] == 10 and every["n"] == 30
    steps = run("model", "next-steps", str(p.b.id), "--json")
    assert steps.exit_code == 0 and json.loads(steps.output)["run_number"] == 2
    sent = run("model", "send-to-review", str(p.b.id), "--json")
    assert sent.exit_code == 0 and json.loads(sent.output)["model_name"] == "run 2"
    refused = run("model", "compare", str(p.a.id), str(p.a.id))
    assert refused.exit_code == 1 and "two different runs" in refused.output
    unknown = run("model", "compare", str(p.a.id), str(p.b.id), "--reference", "v9")
    assert unknown.exit_code == 1 and "no dataset version" in unknown.output
