"""The model as one more voice in consensus: it moves the consensus, never people's figures nor a
reviewer's decision, and it is off until an admin chooses a run."""

from __future__ import annotations

import json

import pytest
from bs4 import BeautifulSoup
from fastapi import FastAPI
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from app.auth.models import Role
from app.cli import root
from app.consistency import service, voice
from app.consistency.models import AgreementSnapshot, Conflict, ImageConsensus, LabelerQuality
from app.core.errors import Invalid
from app.jobs.models import Job
from app.jobs.runner import run_queued
from app.modeling.models import RunPrediction, RunState
from app.review.models import FinalLabel
from tests.factories import class_named, make_annotation, make_final_label, make_image, make_member, make_project
from tests.modeling.rows import make_run, make_version

CYCLE = ("ok", "scratch", "dent", "pit")


@pytest.fixture
def case(db):
    return build(db)


def build(db, name=None):
    """Three labelers; c is often wrong where a and b agree. On the four `split` images only a (says
    dent) and c (says pit) answered: the people alone side with a, the more reliable one. A run that
    is right everywhere, and says pit there."""
    project = make_project(db, name=name, labels_per_image=2)
    a, b, c = (make_member(db, project, Role.inspector) for _ in range(3))
    cls = {name: class_named(db, project, name) for name in CYCLE}
    truth: dict[int, str] = {}
    for n in range(40):
        image = make_image(db, project, labels_wanted=2)
        right = CYCLE[n % 4]
        wrong = CYCLE[(n + 1) % 4] if n % 3 == 0 else right
        for labeler, name in ((a, right), (b, right), (c, wrong)):
            make_annotation(db, image, labeler, cls[name])
        truth[image.id] = right
    split = []
    for _ in range(4):
        image = make_image(db, project, labels_wanted=2)
        make_annotation(db, image, a, cls["dent"])
        make_annotation(db, image, c, cls["pit"])
        truth[image.id] = "pit"
        split.append(image)
    classes = [cls[name] for name in CYCLE]
    version = make_version(db, project, 1, classes, [])
    run = make_run(db, version, classes, 1, {i: (cls[name], True) for i, name in truth.items()})
    return db, project, (a, b, c), cls, split, run


def consensus(db, image):
    db.expire_all()
    return db.get(ImageConsensus, image.id).consensus_class_id


def snapshot(db, project):
    return db.scalars(select(AgreementSnapshot).where(AgreementSnapshot.project_id == project.id)
                      .order_by(AgreementSnapshot.id.desc())).first()


def test_off_by_default(case):
    db, project, _, cls, split, _ = case
    assert voice.voice_run_id(project) is None
    service.recompute_project(db, project_id=project.id)
    assert {consensus(db, image) for image in split} == {cls["dent"].id}
    assert "voice" not in snapshot(db, project).summary["ds"]


def test_the_voice_flips_the_split_images_and_leaves_people_alone(case):
    db, project, people, cls, split, run = case
    before = service.recompute_project(db, project_id=project.id)
    first = snapshot(db, project)
    quality_before = {q.user_id: q.n_labels for q in db.scalars(select(LabelerQuality))}
    service.set_model_voice(db, project=project, run=run)
    assert voice.voice_run_id(project) == run.id
    after = service.recompute_project(db, project_id=project.id)
    assert {consensus(db, image) for image in split} == {cls["pit"].id}
    second = snapshot(db, project)
    assert second.summary["ds"]["voice"]["run_id"] == run.id and second.summary["ds"]["voice"]["answers"] == 44
    # agreement between people: the same figures, the same pairs
    assert (after["alpha"], after["fleiss_kappa"]) == (before["alpha"], before["fleiss_kappa"])
    assert second.summary["kappas"] == first.summary["kappas"]
    assert {u for u in quality_before} == {p.id for p in people}
    assert {q.user_id: q.n_labels for q in db.scalars(select(LabelerQuality))} == quality_before
    for conflict in db.scalars(select(Conflict).where(Conflict.project_id == project.id)):
        named = {u for ids in (conflict.details.get("labelers") or {}).values() for u in ids}
        assert named <= {p.id for p in people}
    # between two recomputes, a new image is judged with the voice too
    fresh = make_image(db, project, labels_wanted=2)
    service.on_new_annotation(db, make_annotation(db, fresh, people[0], cls["dent"]))
    make_run_prediction(db, run, fresh, cls["pit"])
    service.on_new_annotation(db, make_annotation(db, fresh, people[2], cls["pit"]))
    assert consensus(db, fresh) == cls["pit"].id
    # and off again: back to the people's consensus
    service.set_model_voice(db, project=project, run=None)
    service.recompute_project(db, project_id=project.id)
    assert {consensus(db, image) for image in split} == {cls["dent"].id}


def make_run_prediction(db, run, image, label_class):
    db.add(RunPrediction(run_id=run.id, image_id=image.id, split="test", out_of_fold=False, fold=None,
                         label_class_id=None, predicted_class_id=label_class.id, confidence=0.9,
                         probabilities=[]))
    db.flush()


def test_a_reviewer_decision_never_moves(case):
    db, project, _, cls, split, run = case
    decided = make_final_label(db, split[0], cls["dent"], source="review")
    service.set_model_voice(db, project=project, run=run)
    service.recompute_project(db, project_id=project.id)
    assert consensus(db, split[0]) == cls["pit"].id
    db.expire_all()
    final = db.scalar(select(FinalLabel).where(FinalLabel.image_id == decided.image_id))
    assert (final.label_class_id, final.source) == (cls["dent"].id, "review")


def test_only_a_finished_run_of_the_project_is_a_voice(case, db):
    _, project, _, _, _, run = case
    run.state = RunState.running
    with pytest.raises(Invalid):
        service.set_model_voice(db, project=project, run=run)
    assert voice.voice_run_id(project) is None
    run.state = RunState.done
    other = make_project(db)
    with pytest.raises(Invalid):
        service.set_model_voice(db, project=other, run=run)
    assert voice.voice_run_id(other) is None


def test_the_api_chooses_a_run_and_queues_the_recompute(case, client_for, app: FastAPI):
    db, project, _, cls, split, run = case
    admin, reviewer = make_member(db, project, Role.admin), make_member(db, project, Role.reviewer)
    url = f"/api/v1/projects/{project.id}/model-voice"
    assert client_for(reviewer).get(url).json()["run_id"] is None
    assert client_for(reviewer).put(url, json={"run_id": run.id}).status_code == 403
    assert client_for(admin).put(url, json={"run_id": 0}).status_code == 422
    assert client_for(admin).put(url, json={"run": run.id}).status_code == 422
    other = build(db)[5]
    assert client_for(admin).put(url, json={"run_id": other.id}).status_code == 404
    db.expire_all()
    assert voice.voice_run_id(project) is None
    answer = client_for(admin).put(url, json={"run_id": run.id})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["run_id"] == run.id and body["queued"]
    assert db.get(Job, body["job_id"]).kind == service.JOB_KIND
    assert run_queued(db, storage=app.state.storage, settings=app.state.settings, kinds=[service.JOB_KIND]) == 1
    assert {consensus(db, image) for image in split} == {cls["pit"].id}
    off = client_for(admin).put(url, json={"run_id": None}).json()
    assert off["run_id"] is None and off["queued"]


def test_the_run_page_button_turns_the_voice_on_and_off(case, client_for):
    db, project, _, _, _, run = case
    admin, reviewer = make_member(db, project, Role.admin), make_member(db, project, Role.reviewer)
    page_url = f"/projects/{project.id}/models/{run.id}"
    assert BeautifulSoup(client_for(reviewer).get(page_url).text, "html.parser").select_one("form.voice-form") is None
    form = BeautifulSoup(client_for(admin).get(page_url).text, "html.parser").select_one("form.voice-form")
    assert form["action"] == f"{page_url}/voice" and form.select_one("input[name=on]")["value"] == "true"
    posted = client_for(admin).post(form["action"], data={"on": "true"}, follow_redirects=False)
    assert posted.status_code == 303
    db.expire_all()
    assert voice.voice_run_id(project) == run.id
    page = BeautifulSoup(client_for(admin).get(page_url).text, "html.parser")
    assert "is a voice in consensus" in page.select_one(".voice-state").get_text()
    assert client_for(admin).post(form["action"], data={"on": "false"}, follow_redirects=False).status_code == 303
    db.expire_all()
    assert voice.voice_run_id(project) is None


def test_cli_model_voice(cli_env: Engine):
    with Session(cli_env, expire_on_commit=False) as db:
        _, project, _, _, _, run = build(db, name="voice-cli")
        db.commit()
    invoke = CliRunner().invoke
    assert invoke(root, ["model", "voice", "voice-cli"]).exit_code == 2
    assert invoke(root, ["model", "voice", "voice-cli", "9"]).exit_code == 1
    done = invoke(root, ["model", "voice", "voice-cli", str(run.number)], catch_exceptions=False)
    assert done.exit_code == 0, done.output
    assert json.loads(done.stdout)["run_id"] == run.id
    with Session(cli_env) as db:
        assert voice.voice_run_id(db.get(type(project), project.id)) == run.id
    off = invoke(root, ["model", "voice", "voice-cli", "--off"], catch_exceptions=False)
    assert off.exit_code == 0 and json.loads(off.stdout)["run_id"] is None
    with Session(cli_env) as db:
        assert voice.voice_run_id(db.get(type(project), project.id)) is None


def test_choosing_while_a_recompute_runs_queues_another(case, app: FastAPI):
    db, project, _, _, _, run = case
    running = service.schedule_recompute(db, project_id=project.id)
    running.state = "running"  # it read the project's settings before the choice
    db.flush()
    job = service.set_model_voice(db, project=project, run=run)
    assert job is not None and job.id != running.id and job.state == "queued"
    assert service.set_model_voice(db, project=project, run=None).id == job.id  # one waiting job is enough
