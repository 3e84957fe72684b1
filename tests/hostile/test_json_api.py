"""Hostile JSON (and CSV) sent to the API (reliability #10, #11, #16): malformed, wrong types, out of
range, NaN and infinity, unknown classes, mass assignment, oversized. Each gets a clear 4xx naming what
was wrong (JSON with "error" and "message"), and nothing is stored."""
from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from tests.hostile.conftest import Scene

BOX = {"x": 10, "y": 10, "w": 20, "h": 20}
BIG = 1e999  # json.dumps writes Infinity; we send the overflowing literal 1e999 instead (see `raw`)


def answer(scene: Scene, **fields: Any) -> dict[str, Any]:
    return {"label_class_id": scene.scratch.id, "boxes": [], **fields}


def box(scene: Scene, **fields: Any) -> dict[str, Any]:
    return {**BOX, "class_id": scene.scratch.id, **fields}


def raw(value: Any) -> bytes:
    """JSON text where float('inf') is the literal 1e999 (valid JSON that overflows a double)."""
    return json.dumps(value).replace("Infinity", "1e999").encode()


def decision(scene: Scene, **fields: Any) -> dict[str, Any]:
    return {"decision": "edit", "version": scene.conflict_version, "label_class_id": scene.scratch.id,
            "boxes": [], **fields}


Body = Callable[[Scene], Any]
# (case, who, method, path (under the project's API), body: a JSON value, or bytes sent as they are, statuses)
CASES: list[tuple[str, str, str, str, Body, set[int]]] = [
    # the labeling answer
    ("answer-malformed-json", "inspector", "POST", "/assignments/{a}/annotation",
     lambda s: b'{"label_class_id": 1, "boxes": [', {422}),
    ("answer-not-an-object", "inspector", "POST", "/assignments/{a}/annotation", lambda s: [1, 2, 3], {422}),
    ("answer-class-as-name", "inspector", "POST", "/assignments/{a}/annotation",
     lambda s: answer(s, label_class_id="scratch"), {422}),
    ("answer-unknown-class", "inspector", "POST", "/assignments/{a}/annotation",
     lambda s: answer(s, label_class_id=987654), {422}),
    ("answer-another-projects-class", "inspector", "POST", "/assignments/{a}/annotation",
     lambda s: answer(s, label_class_id=s.foreign_class.id), {422}),
    ("answer-boxes-as-text", "inspector", "POST", "/assignments/{a}/annotation",
     lambda s: answer(s, boxes="10,10,20,20"), {422}),
    ("answer-box-negative", "inspector", "POST", "/assignments/{a}/annotation",
     lambda s: answer(s, boxes=[box(s, x=-5)]), {422}),
    ("answer-box-outside-image", "inspector", "POST", "/assignments/{a}/annotation",
     lambda s: answer(s, boxes=[box(s, x=600, w=100)]), {422}),
    ("answer-box-starts-past-image", "inspector", "POST", "/assignments/{a}/annotation",
     lambda s: answer(s, boxes=[box(s, y=480)]), {422}),
    ("answer-box-x2-before-x1", "inspector", "POST", "/assignments/{a}/annotation",
     lambda s: answer(s, boxes=[box(s, w=-10)]), {422}),
    ("answer-box-infinite", "inspector", "POST", "/assignments/{a}/annotation",
     lambda s: raw(answer(s, boxes=[box(s, w=BIG)])), {422}),
    ("answer-box-nan-literal", "inspector", "POST", "/assignments/{a}/annotation",
     lambda s: json.dumps(answer(s, boxes=[box(s, x=float("nan"))])).encode(), {422}),
    ("answer-box-unknown-class", "inspector", "POST", "/assignments/{a}/annotation",
     lambda s: answer(s, boxes=[box(s, class_id=987654)]), {422}),
    ("answer-box-extra-field", "inspector", "POST", "/assignments/{a}/annotation",
     lambda s: answer(s, boxes=[box(s, label="<script>alert(1)</script>")]), {422}),
    ("answer-501-boxes", "inspector", "POST", "/assignments/{a}/annotation",
     lambda s: answer(s, boxes=[box(s)] * 501), {422}),
    ("answer-mass-assignment", "inspector", "POST", "/assignments/{a}/annotation",
     lambda s: answer(s, labeler_id=s.admin.id, source="import"), {422}),
    ("answer-comment-too-long", "inspector", "POST", "/assignments/{a}/annotation",
     lambda s: answer(s, comment="x" * 2001), {422}),
    ("answer-comment-object", "inspector", "POST", "/assignments/{a}/annotation",
     lambda s: answer(s, comment={"$gt": ""}), {422}),
    ("answer-duration-negative", "inspector", "POST", "/assignments/{a}/annotation",
     lambda s: answer(s, duration_ms=-1), {422}),
    ("answer-idempotency-key-path", "inspector", "POST", "/assignments/{a}/annotation",
     lambda s: answer(s, idempotency_key="../../../etc/passwd"), {422}),
    # review decisions
    ("decision-unknown-kind", "reviewer", "POST", "/review/conflicts/{c}/decisions",
     lambda s: decision(s, decision="delete_everything"), {422}),
    ("decision-box-infinite", "reviewer", "POST", "/review/conflicts/{c}/decisions",
     lambda s: raw(decision(s, boxes=[box(s, h=BIG)])), {422}),
    ("decision-box-outside-image", "reviewer", "POST", "/review/conflicts/{c}/decisions",
     lambda s: decision(s, boxes=[box(s, x=300, w=100)]), {422}),
    ("decision-unknown-class", "reviewer", "POST", "/review/conflicts/{c}/decisions",
     lambda s: decision(s, label_class_id=987654), {422}),
    ("decision-another-projects-class", "reviewer", "POST", "/review/conflicts/{c}/decisions",
     lambda s: decision(s, label_class_id=s.foreign_class.id), {422}),
    ("decision-negative-version", "reviewer", "POST", "/review/conflicts/{c}/decisions",
     lambda s: decision(s, version=-1), {422}),
    ("decision-mass-assignment", "reviewer", "POST", "/review/conflicts/{c}/decisions",
     lambda s: decision(s, reviewer_id=s.admin.id), {422}),
    ("bulk-unknown-class-name", "reviewer", "POST", "/review/decisions/bulk",
     lambda s: {"rows": [{"file_name": s.image.file_name, "final_class": "<script>alert(1)</script>"}]}, {422}),
    ("bulk-unknown-file", "reviewer", "POST", "/review/decisions/bulk",
     lambda s: {"rows": [{"file_name": "../../etc/passwd", "final_class": "scratch"}]}, {422}),
    ("bulk-no-rows", "reviewer", "POST", "/review/decisions/bulk", lambda s: {"rows": []}, {422}),
    # project settings and datasets
    ("overlap-infinite-fraction", "admin", "PUT", "/overlap",
     lambda s: raw({"labels_per_image": 2, "qa_fraction": BIG, "qa_labels_per_image": 2}), {422}),
    ("overlap-zero-labels", "admin", "PUT", "/overlap",
     lambda s: {"labels_per_image": 0, "qa_fraction": 0.1, "qa_labels_per_image": 2}, {422}),
    ("overlap-sql-in-number", "admin", "PUT", "/overlap",
     lambda s: {"labels_per_image": "3; DROP TABLE images", "qa_fraction": 0.1, "qa_labels_per_image": 2}, {422}),
    ("freeze-empty-name", "admin", "POST", "/datasets", lambda s: {"name": ""}, {422}),
    ("freeze-negative-split", "admin", "POST", "/datasets",
     lambda s: {"name": "v", "split": {"train": -0.5, "val": 1.0, "test": 0.5}}, {422}),
    ("freeze-split-over-one", "admin", "POST", "/datasets",
     lambda s: {"name": "v", "split": {"train": 1.0, "val": 1.0, "test": 1.0}}, {422}),
    ("export-format-path", "admin", "POST", "/datasets/987654/exports",
     lambda s: {"format": "../../etc/passwd"}, {422}),
    # the defect book
    ("rename-to-empty", "admin", "POST", "/defect-book/taxonomy/rename",
     lambda s: {"class_id": s.scratch.id, "name": ""}, {422}),
    ("rename-to-10k-chars", "admin", "POST", "/defect-book/taxonomy/rename",
     lambda s: {"class_id": s.scratch.id, "name": "n" * 10_000}, {422}),
    ("rename-to-existing-name", "admin", "POST", "/defect-book/taxonomy/rename",
     lambda s: {"class_id": s.scratch.id, "name": "dent"}, {409, 422}),
    ("definition-too-long", "reviewer", "PUT", "/defect-book/classes/{k}/definition",
     lambda s: {"definition": "d" * 1_000_000}, {413, 422}),
    # model predictions (CSV or JSON bodies)
    ("predictions-unknown-image", "admin", "POST", "/predictions",
     lambda s: b"file_name,ok,scratch,dent,pit,discoloration\n../../etc/passwd,1,0,0,0,0\n", {422}),
    ("predictions-unknown-class", "admin", "POST", "/predictions",
     lambda s: f"image_id,ok,<script>\n{s.image.id},0.5,0.5\n".encode(), {422}),
    ("predictions-infinite", "admin", "POST", "/predictions",
     lambda s: raw([{"image_id": s.image.id, "probabilities": {"ok": BIG}}]), {422}),
    ("predictions-not-a-distribution", "admin", "POST", "/predictions",
     lambda s: [{"image_id": s.image.id, "probabilities": {"ok": 0.9, "scratch": 0.9}}], {422}),
    ("predictions-garbage", "admin", "POST", "/predictions", lambda s: b"\x00\xff\xfe garbage \x80", {422}),
]


def path_of(scene: Scene, path: str) -> str:
    return scene.api(path.replace("{a}", str(scene.assignment.id)).replace("{c}", str(scene.conflict_id))
                     .replace("{k}", str(scene.scratch.id)))


@pytest.mark.parametrize(("who", "method", "path", "body", "allowed"), [c[1:] for c in CASES],
                         ids=[c[0] for c in CASES])
def test_hostile_json_gets_a_clear_4xx_and_stores_nothing(scene: Scene, who: str, method: str, path: str,
                                                          body: Body, allowed: set[int]) -> None:
    value = body(scene)
    content = value if isinstance(value, bytes) else raw(value)
    kind = "text/csv" if isinstance(value, bytes) and not value.lstrip().startswith((b"{", b"[")) else \
        "application/json"
    before = scene.stored()
    response = scene.client(who).request(method, path_of(scene, path), content=content,
                                         headers={"Content-Type": kind})
    assert response.status_code in allowed, response.text[:400]
    error = response.json()
    assert error.get("error") and error.get("message"), error
    scene.assert_nothing_stored(before)


def test_a_million_boxes_are_refused_while_streaming(scene: Scene) -> None:
    """#10: 10^6 boxes (~60 MB of JSON) are cut off by size before any is parsed."""
    one = json.dumps(box(scene)).encode()

    def chunks():
        yield b'{"label_class_id": %d, "boxes": [' % scene.scratch.id + one
        for _ in range(10**6 // 1000):
            yield (b"," + one) * 1000
        yield b"]}"

    before = scene.stored()
    answer = scene.stream("inspector", path_of(scene, "/assignments/{a}/annotation"), chunks(),
                          {"content-type": "application/json"})
    assert answer.status in (413, 422), answer.body[:300]
    assert answer.peak_traced_mb < 50
    scene.assert_nothing_stored(before)


CONTROLS: list[tuple[str, str, str, str, Body, set[int]]] = [
    ("answer", "inspector", "POST", "/assignments/{a}/annotation", lambda s: answer(s, boxes=[box(s)]), {200}),
    ("decision", "reviewer", "POST", "/review/conflicts/{c}/decisions", lambda s: decision(s, boxes=[box(s)]), {201}),
    ("overlap", "admin", "PUT", "/overlap",
     lambda s: {"labels_per_image": 2, "qa_fraction": 0.5, "qa_labels_per_image": 2}, {200}),
    ("freeze", "admin", "POST", "/datasets",
     lambda s: {"name": "v", "split": {"train": 0.8, "val": 0.1, "test": 0.1}}, {201}),
    ("rename", "admin", "POST", "/defect-book/taxonomy/rename",
     lambda s: {"class_id": s.scratch.id, "name": "deep scratch"}, {200}),
    ("predictions", "admin", "POST", "/predictions",
     lambda s: f"image_id,ok,scratch\n{s.image.id},0.25,0.75\n".encode(), {201}),
]


@pytest.mark.parametrize(("who", "method", "path", "body", "allowed"), [c[1:] for c in CONTROLS],
                         ids=[c[0] for c in CONTROLS])
def test_the_same_requests_made_well_are_accepted(scene: Scene, who: str, method: str, path: str, body: Body,
                                                  allowed: set[int]) -> None:
    """The controls: the refusals above come from the hostile part, not from a body the route never takes."""
    value = body(scene)
    content = value if isinstance(value, bytes) else raw(value)
    kind = "text/csv" if isinstance(value, bytes) else "application/json"
    before = scene.stored()
    response = scene.client(who).request(method, path_of(scene, path), content=content,
                                         headers={"Content-Type": kind})
    assert response.status_code in allowed, response.text[:400]
    assert scene.stored().rows != before.rows
