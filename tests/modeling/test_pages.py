"""The model pages: the runs list with its forms, a run's metrics (weakest first), charts, roles."""
from __future__ import annotations

from bs4 import BeautifulSoup
from sqlalchemy.orm import Session

from app.auth.models import Role
from app.jobs.models import Job
from app.modeling.models import RunState
from tests.datasets.helpers import freeze
from tests.datasets.scene import build_scene
from tests.factories import make_member
from tests.modeling.page_runs import make_run, slice_

NAMES = ["ok", "scratch", "dent", "pit", "discoloration"]


def soup(response) -> BeautifulSoup:
    assert response.status_code == 200, response.text[:500]
    return BeautifulSoup(response.text, "html.parser")


def test_the_runs_list_shows_runs_newest_first_with_intervals_and_forms(db: Session, client_for) -> None:
    scene = build_scene(db, images=20)
    v1 = freeze(db, scene, "v1")
    v2 = freeze(db, scene, "v2")
    make_run(db, v1, number=1, names=NAMES, f1s=[0.9, 0.5, 0.6, 0.7, 0.8], accuracy=0.71)
    make_run(db, v2, number=2, names=NAMES, f1s=[0.9, 0.6, 0.6, 0.7, 0.8], accuracy=0.84)
    job = Job(project_id=scene.project.id, kind="modeling.train", state="running", progress=0.4, message="fold 2 of 5")
    db.add(job)
    db.flush()
    make_run(db, v2, number=3, names=NAMES, f1s=[None] * 5, state=RunState.running, job_id=job.id)
    page = soup(client_for(scene.admin).get(f"/projects/{scene.project.id}/models"))
    rows = page.select(".runs-table tbody tr")
    assert [r.select_one(".run-link").get_text() for r in rows] == ["Run 3", "Run 2", "Run 1"]
    assert rows[1].select(".metric")[0].get_text(" ", strip=True) == "0.840 [0.790, 0.890]"
    assert rows[0].select_one(".job-progress")["data-job-state"] == "running"
    assert "fold 2 of 5" in rows[0].get_text()
    assert page.select_one(".project-nav a.active").get_text() == "Models"
    form = page.select_one("form.train-form")
    assert form.select_one("select[name=version_id] option[selected]")["value"] == str(v2.id)  # newest version
    assert [o["value"] for o in form.select("select[name=recipe] option")] == ["filterbank"]
    compare = page.select_one("form.compare-form")
    assert compare.select_one("select[name=a] option[selected]").get_text().startswith("Run 1")
    assert compare.select_one("select[name=b] option[selected]").get_text().startswith("Run 2")


def test_a_reviewer_sees_runs_but_no_train_form_and_an_inspector_is_refused(db: Session, client_for) -> None:
    scene = build_scene(db, images=10)
    make_run(db, freeze(db, scene), number=1, names=NAMES, f1s=[0.9] * 5)
    reviewer = make_member(db, scene.project, Role.reviewer)
    inspector = make_member(db, scene.project, Role.inspector)
    page = soup(client_for(reviewer).get(f"/projects/{scene.project.id}/models"))
    assert len(page.select(".runs-table tbody tr")) == 1 and page.select_one("form.train-form") is None
    assert client_for(inspector).get(f"/projects/{scene.project.id}/models").status_code == 403
    assert "Models" not in [a.get_text() for a in soup(client_for(inspector).get(
        f"/projects/{scene.project.id}/label")).select(".project-nav a")]


def test_the_run_page_lists_classes_and_slices_weakest_first_and_draws_its_charts(db: Session, client_for) -> None:
    scene = build_scene(db, images=20)
    version = freeze(db, scene)
    first = make_run(db, version, number=1, names=NAMES, f1s=[0.9] * 5)
    slices = [slice_("line", "L1", 0.9), slice_("shift", "night", 0.55, n=30, source="out_of_fold"),
              slice_("camera", "cam-b", 0.7)]
    run = make_run(db, version, number=2, names=NAMES, f1s=[0.92, 0.41, None, 0.77, 0.63], slices=slices)
    base = f"/projects/{scene.project.id}/models"
    page = soup(client_for(scene.admin).get(f"{base}/{run.id}"))
    assert page.select_one("h1").get_text() == "Run 2"
    classes = [r.select_one("th").get_text() for r in page.select(".class-table tbody tr")]
    assert classes == ["scratch", "discoloration", "pit", "ok", "dent"]  # undefined F1 last
    assert [r.select_one("th").get_text() for r in page.select(".slice-table tbody tr")] == [
        "shift = night", "camera = cam-b", "line = L1"]
    assert page.select_one(".reference-count").get_text() == "40"
    assert version.name in page.select_one(".reference").get_text()
    heatmap = page.select_one("svg.chart-heatmap")
    assert heatmap is not None and len(heatmap.select("rect")) == 25
    reliability = page.select_one("svg.chart-reliability")
    assert len(reliability.select("rect.reliability-bar")) == 4  # the empty bin draws nothing
    assert page.select_one("a.predictions-csv")["href"].endswith(f"/runs/{run.id}/predictions.csv")
    assert page.select_one("a.compare-previous")["href"] == f"{base}/compare?a={first.id}&b={run.id}"
    oof = soup(client_for(scene.admin).get(f"{base}/{run.id}?source=out_of_fold"))
    assert oof.select_one(".source-switch a.active")["href"].endswith("source=out_of_fold")


def test_a_run_of_another_project_is_not_found(db: Session, client_for) -> None:
    scene, other = build_scene(db, images=5), build_scene(db, images=5, seed=1)
    run = make_run(db, freeze(db, other), number=1, names=NAMES, f1s=[0.9] * 5)
    assert client_for(scene.admin).get(f"/projects/{scene.project.id}/models/{run.id}").status_code == 404


def test_a_failed_run_says_why(db: Session, client_for) -> None:
    scene = build_scene(db, images=5)
    run = make_run(db, freeze(db, scene), number=1, names=NAMES, f1s=[None] * 5, state=RunState.failed,
                   error="the version has only one class")
    page = soup(client_for(scene.admin).get(f"/projects/{scene.project.id}/models/{run.id}"))
    assert "only one class" in page.select_one(".form-error").get_text()
    assert page.select_one(".class-table") is None


def test_a_run_whose_job_was_cancelled_shows_cancelled(db: Session, client_for) -> None:
    scene = build_scene(db, images=5)
    job = Job(project_id=scene.project.id, kind="modeling.train", state="cancelled", progress=0.3,
              message="cancelled by Ada")
    db.add(job)
    db.flush()
    run = make_run(db, freeze(db, scene), number=1, names=NAMES, f1s=[None] * 5, state=RunState.running,
                   job_id=job.id)
    listing = soup(client_for(scene.admin).get(f"/projects/{scene.project.id}/models"))
    assert listing.select_one(".runs-table .run-state").get_text() == "cancelled"
    assert listing.select_one(".runs-table .job-progress") is None
    page = soup(client_for(scene.admin).get(f"/projects/{scene.project.id}/models/{run.id}"))
    assert "cancelled by Ada" in page.select_one(".form-error").get_text()
