"""Reliability #50: atheris on the import parsers and the box validator lets only documented exceptions
out. Each harness (tests/hostile/fuzz/) runs in a subprocess, since atheris.Fuzz ends its process; a
crash fails the test with libFuzzer's report. `make fuzz` runs the same harnesses for a minute each.

Below them, regression tests for the inputs fuzzing found, as plain unit tests."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from app.core.errors import Invalid
from app.images.importers import coco, labelstudio
from tests.support.live_server import REPO_ROOT

TARGETS = ["labelstudio_json", "coco_json", "metadata_csv", "boxes"]
RUNS = 3000


@pytest.mark.slow
@pytest.mark.parametrize("target", TARGETS)
def test_fuzzing_lets_only_documented_errors_escape(target: str, tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", f"tests.hostile.fuzz.{target}", f"-runs={RUNS}", "-timeout=10",
         f"-artifact_prefix={tmp_path}/", str(tmp_path / "corpus")],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=240, check=False)
    assert done.returncode == 0, done.stderr[-4000:]
    assert f"Done {RUNS} runs" in done.stderr


BIG = "1" + "0" * 400  # an integer no float can hold
COCO_IMAGE, COCO_CATEGORY = '{"id": 1, "file_name": "a.jpg"}', '{"id": 1, "name": "dent"}'


def coco_text(annotation: str = '{"image_id": 1, "category_id": 1, "bbox": [0, 0, 1, 1]}',
              image: str = COCO_IMAGE) -> str:
    return f'{{"images": [{image}], "categories": [{COCO_CATEGORY}], "annotations": [{annotation}]}}'


def ls_text(value: str = '"x": 1, "y": 1, "width": 1, "height": 1', lead: str = "1") -> str:
    result = f'{{"type": "rectanglelabels", "value": {{{value}, "rectanglelabels": ["dent"]}}}}'
    return (f'[{{"data": {{"image": "a.jpg"}}, "annotations": [{{"completed_by": 1, "lead_time": {lead}, '
            f'"result": [{result}]}}]}}]')


@pytest.mark.parametrize(("loader", "text", "field"), [
    (coco.load, coco_text('{"image_id": [1], "category_id": 1, "bbox": [0, 0, 1, 1]}'), "annotations[0].image_id"),
    (coco.load, coco_text('{"image_id": 1, "category_id": {}, "bbox": [0, 0, 1, 1]}'), "annotations[0].category_id"),
    (coco.load, coco_text(f'{{"image_id": 1, "category_id": 1, "bbox": [{BIG}, 0, 1, 1]}}'), "annotations[0].bbox[0]"),
    (coco.load, coco_text(image=f'{{"id": 1, "file_name": "a.jpg", "width": {BIG}, "height": 5}}'), "images[0].width"),
    (coco.load, "[" * 100_000 + "]" * 100_000, "coco"),
    (coco.load, "1" * 5000, "coco"),
    (labelstudio.load, ls_text(f'"x": {BIG}, "y": 1, "width": 1, "height": 1'),
     "tasks[0].annotations[0].result[0].value.x"),
    (labelstudio.load, ls_text('"x": 1, "y": 1, "width": 1, "height": 1, "rotation": ' + BIG),
     "tasks[0].annotations[0].result[0].value.rotation"),
    (labelstudio.load, '[{"data": ' * 50_000 + "1" + "}]" * 50_000, "tasks"),
], ids=["coco-list-image-id", "coco-object-category-id", "coco-huge-bbox", "coco-huge-width", "deep-nesting",
        "5000-digit-integer", "ls-huge-x", "ls-huge-rotation", "ls-deep-nesting"])
def test_inputs_fuzzing_found_are_refused_as_invalid(loader, text: str, field: str, tmp_path: Path) -> None:
    path = tmp_path / "import.json"
    path.write_text(text)
    with pytest.raises(Invalid) as refused:
        loader(path)
    assert refused.value.field == field


def test_a_huge_lead_time_is_dropped_not_a_crash(tmp_path: Path) -> None:
    path = tmp_path / "tasks.json"
    path.write_text(ls_text(lead=BIG))
    [task] = labelstudio.load(path).tasks
    assert task.answers[0].lead_time_s is None and len(task.answers[0].boxes) == 1
