"""What the model pages do: train from the form, compare two runs, send to review, ask for captures."""
from __future__ import annotations

from bs4 import BeautifulSoup
from fastapi import FastAPI
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.auth.models import Role
from app.modeling.models import CaptureRequest, ModelRun, RunState
from tests.factories import make_member
from tests.modeling.conftest import run_jobs
from tests.modeling.scene import Scene, freeze
from tests.modeling.test_compare import RELABELED, two_runs


def soup(response) -> BeautifulSoup:
    assert response.status_code == 200, response.text[:500]
    return BeautifulSoup(response.text, "html.parser")


def test_the_train_form_queues_a_run_whose_page_shows_its_metrics_once_trained(db: Session, client_for, app: FastAPI,
                                                                              scene: Scene) -> None:
    version = freeze(db, scene)
    admin = client_for(scene.admin)
    base = f"/projects/{scene.project.id}/models"
    posted = admin.post(base, data={"version_id": str(version.id), "recipe": "filterbank", "seed": "3", "folds": "4"},
                        follow_redirects=False)
    assert posted.status_code == 303
    run = db.scalar(select(ModelRun).where(ModelRun.project_id == scene.project.id))
    assert run is not None and (run.seed, run.folds, run.state) == (3, 4, RunState.queued)
    queued = soup(admin.get(posted.headers["location"].split("?")[0]))
    assert queued.select_one(".job-progress")["data-job-state"] == "queued"
    assert queued.select_one("form.job-cancel")["action"] == f"/projects/{scene.project.id}/jobs/{run.job_id}/cancel"
    assert run_jobs(db, app) == 1
    page = soup(admin.get(f"{base}/{run.id}"))
    assert page.select_one(".run-state").get_text() == "done"
    assert int(page.select_one(".reference-count").get_text()) == run.eval_count > 0
    assert {r.select_one("th").get_text() for r in page.select(".class-table tbody tr")} == {"ok", "scratch"}
    assert page.select_one("svg.chart-heatmap") is not None and page.select_one("svg.chart-reliability") is not None
    assert page.select_one("form.send-form button").get_text() == "Send likely label errors to review"


def test_a_bad_train_form_comes_back_with_the_message_and_stores_nothing(db: Session, client_for, scene: Scene) -> None:
    version = freeze(db, scene)
    admin = client_for(scene.admin)
    base = f"/projects/{scene.project.id}/models"
    for data in ({"version_id": str(version.id), "recipe": "no-such-recipe", "seed": "0"},
                 {"version_id": str(version.id + 1000), "recipe": "", "seed": "0"},
                 {"version_id": str(version.id), "recipe": "", "seed": "-1"},
                 {"version_id": str(version.id), "recipe": "", "seed": "0", "folds": "1"}):
        response = admin.post(base, data=data)
        assert response.status_code in (400, 422), response.text[:300]
        page = BeautifulSoup(response.text, "html.parser")
        assert page.select_one(".form-error").get_text(strip=True)
        assert page.select_one("input[name=seed]")["value"] == data["seed"]  # what was typed comes back
    assert admin.post(base, data={"version_id": "x"}).status_code == 422
    reviewer = client_for(make_member(db, scene.project, Role.reviewer))
    assert reviewer.post(base, data={"version_id": str(version.id)}).status_code == 403
    assert db.scalar(select(func.count()).select_from(ModelRun)) == 0


def test_the_compare_page_shows_the_reference_deltas_changed_images_and_why(db: Session, client_for) -> None:
    pair = two_runs(db)
    reviewer = client_for(make_member(db, pair.project, Role.reviewer))
    base = f"/projects/{pair.project.id}/models"
    page = soup(reviewer.get(f"{base}/compare?a={pair.a.id}&b={pair.b.id}"))
    assert page.select_one(".reference-count").get_text() == "28"
    assert "version 2" in page.select_one("p.reference").get_text()
    accuracy = page.select_one(".headline-table tbody tr")
    assert accuracy.select_one(".delta")["class"] == ["delta", "delta-better"]
    assert accuracy.select_one(".figure-value").get_text() == "+0.214"  # 6 of 28
    pit = next(r for r in page.select(".class-table tbody tr") if r.select_one("th").get_text() == "pit")
    assert pit.select(".delta")[1].select_one(".figure-value").get_text() == "+0.600"  # recall 0.4 -> 1.0
    assert page.select_one(".n-fixed").get_text() == str(RELABELED) and page.select_one(".n-broken").get_text() == "0"
    assert len(page.select(".changed-images.fixed img")) == RELABELED
    sentences = [li.get_text() for li in page.select(".attribution li")]
    assert any("corrected to pit" in s and "recall +0.60" in s for s in sentences), sentences
    assert len(page.select("svg.chart-delta")) == 3  # headline, classes, slices
    other = soup(reviewer.get(f"{base}/compare?a={pair.a.id}&b={pair.b.id}&scope=all&settled=false"))
    assert other.select_one(".reference-count").get_text() == "30"  # all 40 items of v2 less the 10 both trained on
    assert "10 of 40 left out" in other.select_one("p.reference").get_text()
    assert other.select_one("select[name=scope] option[selected]")["value"] == "all"


def test_compare_refuses_the_same_run_twice_and_an_unknown_run(db: Session, client_for) -> None:
    pair = two_runs(db)
    reviewer = client_for(make_member(db, pair.project, Role.reviewer))
    base = f"/projects/{pair.project.id}/models/compare"
    assert reviewer.get(f"{base}?a={pair.a.id}&b={pair.a.id}").status_code == 422
    assert reviewer.get(f"{base}?a={pair.a.id}&b=999999").status_code == 404
    assert reviewer.get(f"{base}?a={pair.a.id}").status_code == 422


def test_capture_requests_from_the_run_page_are_listed_and_closed(db: Session, client_for) -> None:
    pair = two_runs(db)
    reviewer = client_for(make_member(db, pair.project, Role.reviewer))
    base = f"/projects/{pair.project.id}/models/{pair.b.id}"
    pit = pair.classes[2]
    made = reviewer.post(f"{base}/capture-requests", data={"label_class_id": str(pit.id), "slice_key": "line",
                                                         "slice_value": "L2", "wanted": "30"}, follow_redirects=False)
    assert made.status_code == 303
    request = db.scalar(select(CaptureRequest))
    assert (request.label_class_id, request.slice, request.wanted, request.run_id) == (pit.id, {"line": "L2"}, 30,
                                                                                      pair.b.id)
    listed = soup(reviewer.get(base)).select(".capture-list li")
    assert len(listed) == 1 and "30 images of pit" in " ".join(listed[0].get_text().split())
    for bad in ({"slice_key": "line"}, {"wanted": "0", "label_class_id": str(pit.id)}, {}):
        assert reviewer.post(f"{base}/capture-requests", data=bad).status_code in (400, 422)
    assert db.scalar(select(func.count()).select_from(CaptureRequest)) == 1
    closed = reviewer.post(f"/projects/{pair.project.id}/models/capture-requests/{request.id}/close",
                           data={"run_id": str(pair.b.id)}, follow_redirects=False)
    assert closed.status_code == 303
    db.refresh(request)
    assert request.state == "done" and soup(reviewer.get(base)).select(".capture-list li") == []


def test_send_to_review_needs_a_finished_run(db: Session, client_for) -> None:
    pair = two_runs(db)
    reviewer = client_for(make_member(db, pair.project, Role.reviewer))
    pair.a.state = RunState.running
    db.flush()
    assert reviewer.post(f"/projects/{pair.project.id}/models/{pair.a.id}/send-to-review").status_code == 422
    sent = reviewer.post(f"/projects/{pair.project.id}/models/{pair.b.id}/send-to-review", follow_redirects=False)
    assert sent.status_code == 303 and sent.headers["location"].startswith(f"/projects/{pair.project.id}/review")
