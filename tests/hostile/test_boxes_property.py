"""The box validator seen from outside (reliability #10), a Hypothesis property over HTTP: whatever boxes
a labeler's client sends, the answer is either stored with every box finite, inside the image and of
a class of the project, or refused with a 4xx and nothing stored. Never a 5xx, never half an answer.
(tests/labeling/test_box_validation.py holds the same property for the pure validator.)"""
from __future__ import annotations

import json
import math
from typing import Any

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.labeling.models import Annotation
from tests.hostile.conftest import Scene
from tests.security.walk import isolated, row_counts

W, H = 640, 480
numbers = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.floats(-10, W + 10),
    st.integers(-(10**6), 10**6),
    st.integers(min_value=10**300, max_value=10**310),
    st.booleans(), st.none(), st.text(max_size=4), st.lists(st.integers(), max_size=2),
)


@st.composite
def valid_box(draw: st.DrawFn) -> dict[str, float]:
    x, y = draw(st.floats(0, W - 1)), draw(st.floats(0, H - 1))
    return {"x": x, "y": y, "w": draw(st.floats(0.5, W - x)), "h": draw(st.floats(0.5, H - y))}


boxes = st.lists(
    st.one_of(
        valid_box(), valid_box(),
        st.fixed_dictionaries({"x": numbers, "y": numbers, "w": numbers, "h": numbers},
                              optional={"class_id": st.one_of(st.integers(-2, 10**6), st.just("scratch"), st.none()),
                                        "label": st.text(max_size=8)}),
        numbers,
    ),
    max_size=5,
)


def finite_inside(box: dict[str, Any], class_ids: set[int]) -> bool:
    values = [box[k] for k in "xywh"]
    return (all(isinstance(v, int | float) and math.isfinite(v) for v in values)
            and box["x"] >= 0 and box["y"] >= 0 and box["w"] > 0 and box["h"] > 0
            and box["x"] + box["w"] <= W + 1e-6 and box["y"] + box["h"] <= H + 1e-6
            and box["class_id"] in class_ids)


@pytest.fixture
def plain(scene: Scene) -> dict[str, Any]:
    """What the property needs, as plain values (each example rolls back and forgets loaded objects)."""
    return {"class_id": scene.scratch.id, "labeler_id": scene.inspector.id, "client": scene.client("inspector"),
            "url": scene.api(f"/assignments/{scene.assignment.id}/annotation")}


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                  HealthCheck.too_slow])
@given(sent=st.one_of(st.lists(valid_box(), max_size=4), boxes), use_real_class=st.booleans())
def test_any_boxes_are_stored_whole_and_valid_or_refused_whole(db: Session, plain: dict[str, Any],
                                                                sent: list[Any], use_real_class: bool) -> None:
    class_id, labeler_id, client, url = plain["class_id"], plain["labeler_id"], plain["client"], plain["url"]
    if use_real_class:  # most generated class ids are unknown; make sure valid answers are explored too
        sent = [{**b, "class_id": class_id} if isinstance(b, dict) else b for b in sent]
    body = json.dumps({"label_class_id": class_id, "boxes": sent}, allow_nan=True)
    with isolated(db):
        before = row_counts(db)
        response = client.post(url, content=body, headers={"Content-Type": "application/json"})
        assert response.status_code < 500, response.text
        event(f"answered {response.status_code}")
        if response.status_code >= 400:
            assert 400 <= response.status_code < 500 and response.json()["message"]
            assert row_counts(db)["annotations"] == before["annotations"]
        else:
            assert response.status_code == 200
            stored = db.scalar(select(Annotation).where(Annotation.labeler_id == labeler_id))
            assert stored is not None and len(stored.boxes) == len(sent)
            assert all(finite_inside(b, {class_id}) for b in stored.boxes), stored.boxes
