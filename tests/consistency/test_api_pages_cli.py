"""The consistency API, the agreement page and the CLI."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from app.auth.models import Role
from app.cli import root
from app.consistency import service
from app.core.config import get_settings
from tests.factories import class_named, make_annotation, make_image, make_member, make_project
from tests.support.databases import engine_url

VOTES = [("ok", "ok", "ok"), ("ok", "scratch", "ok"), ("dent", "pit", "pit"), ("pit", "pit", "pit")] * 6


def seed(db, name=None):
    project = make_project(db, name=name, labels_per_image=3)
    labelers = [make_member(db, project, Role.inspector, password=None) for _ in range(3)]
    images = []
    for n, votes in enumerate(VOTES):
        image = make_image(db, project, file_name=f"img_{n:03d}.jpg", labels_wanted=3)
        for labeler, name_ in zip(labelers, votes, strict=True):
            make_annotation(db, image, labeler, class_named(db, project, name_), duration_ms=1000 * (n + 1))
        images.append(image)
    return project, labelers, images


@pytest.fixture
def seeded(db):
    project, labelers, images = seed(db)
    service.recompute_project(db, project_id=project.id)
    reviewer = make_member(db, project, Role.reviewer)
    return db, project, labelers, images, reviewer


def test_agreement_api_and_labeler_quality(seeded, client_for):
    _db, project, labelers, _images, reviewer = seeded
    client = client_for(reviewer)
    body = client.get(f"/api/v1/projects/{project.id}/agreement").json()
    assert 0 < body["alpha"] < 1 and body["fleiss_kappa"] is not None and body["n_images"] == len(VOTES)
    assert body["classes"][:4] == ["ok", "scratch", "dent", "pit"]
    assert {tuple(p["classes"]) for p in body["top_pairs"]} == {("ok", "scratch"), ("dent", "pit")}
    assert body["conflicts"] == {"class_disagreement": 12}
    assert len(body["kappas"]) == 3 and len(body["labelers"]) == 3
    quality = client.get(f"/api/v1/projects/{project.id}/labelers/quality").json()
    assert {q["user_id"] for q in quality} == {u.id for u in labelers}
    assert all(q["n_labels"] == len(VOTES) and q["median_duration_ms"] == 12500 for q in quality)


def test_image_consensus_and_conflicts_api(seeded, client_for):
    db, project, labelers, images, reviewer = seeded
    client = client_for(reviewer)
    disputed = images[2]  # dent, pit, pit
    consensus = client.get(f"/api/v1/projects/{project.id}/images/{disputed.id}/consensus").json()
    assert consensus["computed"] and consensus["n_labels"] == 3 and consensus["method"] == "dawid_skene"
    assert consensus["majority_class"] == "pit"
    conflicts = client.get(f"/api/v1/projects/{project.id}/images/{disputed.id}/conflicts").json()
    assert [c["kind"] for c in conflicts] == ["class_disagreement"] and "dent (1)" in conflicts[0]["reason"]
    other = make_project(db)
    foreign = make_image(db, other)
    assert client.get(f"/api/v1/projects/{project.id}/images/{foreign.id}/consensus").status_code == 404
    inspector = client_for(labelers[0])
    assert inspector.get(f"/api/v1/projects/{project.id}/agreement").status_code == 403


def test_recompute_api_for_admins(seeded, client_for):
    db, project, _labelers, _images, reviewer = seeded
    admin = make_member(db, project, Role.admin)
    answer = client_for(admin).post(f"/api/v1/projects/{project.id}/agreement/recompute")
    assert answer.status_code == 202
    body = answer.json()
    assert body["queued"] or body["summary"]["n_images"] == len(VOTES)
    assert client_for(reviewer).post(f"/api/v1/projects/{project.id}/agreement/recompute").status_code == 403


def test_agreement_page(seeded, client_for):
    db, project, labelers, _images, reviewer = seeded
    service.recompute_project(db, project_id=project.id)  # a second point for the trend
    page = client_for(reviewer).get(f"/projects/{project.id}/agreement")
    assert page.status_code == 200
    html = page.text
    assert "How often labelers split between two classes" in html  # the class-pair heatmap
    assert "Estimated accuracy per labeler" in html and "Agreement over time" in html
    assert "Cohen&#39;s kappa between labelers" in html or "Cohen's kappa between labelers" in html
    assert "Recompute now" not in html  # reviewers see, admins recompute
    admin = make_member(db, project, Role.admin)
    assert "Recompute now" in client_for(admin).get(f"/projects/{project.id}/agreement").text
    assert client_for(labelers[0]).get(f"/projects/{project.id}/agreement").status_code == 403


def test_agreement_page_before_any_recompute(db, client_for):
    project = make_project(db)
    reviewer = make_member(db, project, Role.reviewer)
    page = client_for(reviewer).get(f"/projects/{project.id}/agreement")
    assert page.status_code == 200 and "No recompute yet" in page.text


@pytest.fixture
def cli_env(fresh_engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("CONCORD_DATABASE_URL", engine_url(fresh_engine))
    monkeypatch.setenv("CONCORD_DATA_DIR", str(tmp_path / "data"))
    get_settings.cache_clear()
    with Session(fresh_engine) as db:
        seed(db, name="cli-consistency")
        db.commit()
    yield tmp_path
    get_settings.cache_clear()


def run(*args: str):
    return CliRunner().invoke(root, list(args), catch_exceptions=False)


def test_cli_consistency_and_conflicts(cli_env: Path):
    out = cli_env / "consensus.csv"
    result = run("consistency", "cli-consistency", "--json", "--consensus-out", str(out))
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["n_images"] == len(VOTES) and summary["conflicts"]["class_disagreement"] == 12
    rows = list(csv.DictReader(out.open()))
    assert list(rows[0]) == ["file_name", "consensus_class", "confidence", "n_labels", "majority_class"]
    assert rows[2]["file_name"] == "img_002.jpg" and rows[2]["majority_class"] == "pit" and rows[2]["n_labels"] == "3"
    listed = json.loads(run("conflicts", "cli-consistency", "--json").stdout)
    assert len(listed) == 12 and {c["kind"] for c in listed} == {"class_disagreement"}
    assert listed[0]["severity"] >= listed[-1]["severity"] and listed[0]["file_name"].startswith("img_")
    text = run("consistency", "cli-consistency")
    assert text.exit_code == 0 and "alpha" in text.stdout and "dent / pit" in text.stdout
