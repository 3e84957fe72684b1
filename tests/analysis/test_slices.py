"""The slice report on the shared workload names the dent/pit confusion and the drifted line/shift."""
from __future__ import annotations

from collections.abc import Callable

import krippendorff
import numpy as np
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from app.analysis import service
from app.analysis.data import load_project_data
from app.analysis.slices import SliceInput, analyze, enumerate_slices
from app.auth.models import Role, User
from tests.analysis.workload_db import WorkloadFiles, load_project
from tests.factories import make_member, make_project


@pytest.mark.slow
def test_slice_page_names_dent_pit_and_the_drifted_slice(db: Session, app: FastAPI, workload: WorkloadFiles,
                                                         client_for: Callable[[User], TestClient]) -> None:
    lp = load_project(db, app.state.storage, workload, batches_by_slice=False, with_stats=True)
    service.run_drift(db, storage=app.state.storage, project_id=lp.project.id)
    report = service.slice_report(db, project_id=lp.project.id)
    top = [f"{f.title}: {f.detail}" for f in report.findings[:3]]
    assert any("dent/pit" in t for t in top), top
    assert any(t.startswith("L3/night") and "drifted" in t for t in top), top
    # figures: counts add up, alpha equals the krippendorff package on the slice's labels
    l3n = next(s for s in report.slices if s.key == (("line", "L3"), ("shift", "night")))
    assert sum(l3n.class_counts) == l3n.n == sum(1 for n in workload.files if workload.meta[n]["line"] == "L3"
                                                 and workload.meta[n]["shift"] == "night")
    data = load_project_data(db, lp.project.id)
    mask = (data.dims["line"] == "L3") & (data.dims["shift"] == "night")
    expected = krippendorff.alpha(value_counts=data.votes[mask], level_of_measurement="nominal")
    assert l3n.alpha == pytest.approx(expected)
    reviewer = client_for(make_member(db, lp.project, Role.reviewer, password=None))
    page = reviewer.get(f"/projects/{lp.project.id}/analysis")
    assert page.status_code == 200 and "style=" not in page.text
    findings = page.text.split('class="findings"')[1].split("</ol>")[0]
    first_three = findings.split("<li>")[1:4]
    assert any("dent/pit" in li for li in first_three) and any("L3/night" in li for li in first_three)
    assert page.text.count("<svg class=\"chart") >= 2
    body = reviewer.get(f"/api/v1/projects/{lp.project.id}/slices").json()
    assert body["overall"]["n"] == len(workload.files)
    assert {"line", "camera", "shift", "batch", "upload date"} <= set(body["dimensions"])
    assert body["slices"][0]["name"] == "L3/night" and body["slices"][0]["drifted"]


def test_slices_of_a_small_project_and_roles(db: Session, client_for: Callable[[User], TestClient]) -> None:
    project = make_project(db)
    inspector = client_for(make_member(db, project, Role.inspector, password=None))
    assert inspector.get(f"/projects/{project.id}/analysis").status_code == 403
    outsider = client_for(make_member(db, make_project(db), Role.admin, password=None))
    assert outsider.get(f"/api/v1/projects/{project.id}/slices").status_code == 404
    admin = client_for(make_member(db, project, Role.admin, password=None))
    page = admin.get(f"/projects/{project.id}/analysis")
    assert page.status_code == 200 and "Nothing stands out yet" in page.text


def test_low_agreement_slice_ranks_first_with_its_reason() -> None:
    rng = np.random.default_rng(0)
    n = 300
    line = np.array(["L1", "L2", "L3"] * 100, dtype=object)
    truth = rng.integers(0, 3, n)
    votes = np.zeros((n, 3), dtype=int)
    for i in range(n):
        for _ in range(3):
            noisy = line[i] == "L2" and rng.random() < 0.5
            votes[i, rng.integers(0, 3) if noisy else truth[i]] += 1
    conflict = (votes.max(axis=1) < 3)
    inp = SliceInput(dims={"line": line}, votes=votes, labels_wanted=np.full(n, 3), label=votes.argmax(axis=1),
                     final=np.full(n, -1), conflict=conflict, predicted=np.full(n, -1), class_names=["a", "b", "c"])
    report = analyze(inp)
    assert report.slices[0].name == "L2"
    assert any(r.startswith("alpha") for r in report.slices[0].reasons)
    assert [k for k, _ in enumerate_slices({"id": np.arange(40).astype(str).astype(object)})] == []  # ids: no slices
