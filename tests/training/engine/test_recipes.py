"""The default recipe on workload images: extraction, determinism, export to ONNX, identity, artifacts."""
from __future__ import annotations

import io
import json

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from PIL import Image

from app.training import filterbank
from app.training.cancel import Cancelled
from app.training.extract import extract_many
from app.training.head import LinearHead
from app.training.images import decode
from app.training.recipe import FittedModel, Recipe, get_recipe, recipes
from tests.training.engine.conftest import CLASSES, WorkloadFeatures


def test_the_default_recipe_is_listed_first_and_described() -> None:
    listed = recipes()
    assert [r.name for r in listed] == ["filterbank", "onnx-linear"]
    assert listed[0] == get_recipe().identity == get_recipe("filterbank").identity
    assert not listed[0].needs_backbone and listed[1].needs_backbone
    stored = json.loads(json.dumps(listed[0].as_dict()))
    assert stored["feature_key"] == listed[0].feature_key and len(stored["feature_key"]) == 64
    assert stored["libraries"]["onnxruntime"] and stored["libraries"]["scikit-learn"]
    assert isinstance(get_recipe(), Recipe)


def test_feature_key_follows_features_not_head() -> None:
    identity = get_recipe().identity
    same = type(identity)(name=identity.name, version=identity.version, libraries=identity.libraries,
                          params={**identity.params, "head": {"c": 99.0}})
    assert same.feature_key == identity.feature_key
    changed = type(identity)(name=identity.name, version=identity.version, libraries=identity.libraries,
                             params={**identity.params, "features": {**identity.params["features"], "cell": 4}})
    assert changed.feature_key != identity.feature_key
    newer = type(identity)(name=identity.name, version="99", libraries=identity.libraries, params=identity.params)
    assert newer.feature_key != identity.feature_key
    other_runtime = type(identity)(name=identity.name, version=identity.version, params=identity.params,
                                   libraries={**identity.libraries, "onnxruntime": "0.0"})
    assert other_runtime.feature_key != identity.feature_key


def test_features_are_named_and_finite(workload: WorkloadFeatures) -> None:
    x = workload.features
    assert x.dtype == np.float32 and x.shape == (len(workload.files), len(filterbank.feature_names()))
    assert np.isfinite(x).all()
    assert len(set(filterbank.feature_names())) == x.shape[1]


def test_one_or_two_workers_give_identical_features(workload: WorkloadFeatures) -> None:
    images = [workload.image(i) for i in range(24)]
    one = extract_many(get_recipe(), images, workers=1)
    two = extract_many(get_recipe(), iter(images), workers=2)  # a plain iterator streams too
    assert one.tobytes() == two.tobytes() == workload.features[:24].tobytes()


def test_extraction_streams_holding_at_most_two_images_per_worker(workload: WorkloadFeatures) -> None:
    recipe, done, most = get_recipe(), [], []

    class Counting:
        identity = recipe.identity

        def extract(self, data: bytes) -> np.ndarray:
            found = recipe.extract(data)
            done.append(1)
            return found

    def images():  # a generator: nothing is read before it is asked for
        for i in range(40):
            most.append(i + 1 - len(done))  # images read but not yet turned into features
            yield workload.image(i % 8)

    x = extract_many(Counting(), images(), workers=2)  # type: ignore[arg-type]
    assert x.shape[0] == 40 and max(most) <= 4


def test_extraction_stops_when_asked_and_names_a_bad_image(workload: WorkloadFeatures) -> None:
    asked = []

    def stop() -> bool:
        asked.append(1)
        return len(asked) > 5

    with pytest.raises(Cancelled):
        extract_many(get_recipe(), [workload.image(0)] * 50, workers=2, should_stop=stop)
    with pytest.raises(ValueError, match=r"image 2: not a decodable image"):
        extract_many(get_recipe(), [workload.image(0), workload.image(1), b"not an image", workload.image(3)])
    seen: list[float] = []
    extract_many(get_recipe(), [workload.image(0)] * 30, progress=lambda f, _m: seen.append(f))
    assert seen[-1] == 1.0


def test_other_image_sizes_and_modes_are_accepted(workload: WorkloadFeatures) -> None:
    original = Image.open(io.BytesIO(workload.image(0)))
    grey_small = io.BytesIO()
    original.convert("L").resize((320, 240)).save(grey_small, format="PNG")
    features = get_recipe().extract(grey_small.getvalue())
    assert features.shape == (workload.features.shape[1],) and np.isfinite(features).all()


def test_exported_model_matches_predict_proba(workload: WorkloadFeatures) -> None:
    recipe = get_recipe()
    model = recipe.fit(workload.features, workload.truth, n_classes=len(CLASSES), seed=0)
    exported = recipe.to_onnx(model, class_names=list(CLASSES))
    proto = onnx.load_from_string(exported)
    onnx.checker.check_model(proto, full_check=True)
    props = {p.key: p.value for p in proto.metadata_props}
    assert json.loads(props["concord.class_names"]) == list(CLASSES)
    assert "640x480" in props["concord.preprocessing"] and "0..255" in props["concord.input"]
    assert json.loads(props["concord.recipe"])["feature_key"] == recipe.identity.feature_key
    session = ort.InferenceSession(exported, providers=["CPUExecutionProvider"])
    assert [i.name for i in session.get_inputs()] == ["image"] and session.get_inputs()[0].shape == [1, 3, 480, 640]
    assert [o.name for o in session.get_outputs()] == ["probabilities"]
    for i in range(0, len(workload.files), 75):
        data = workload.image(i)
        on_line = session.run(["probabilities"], {"image": decode(data, height=480, width=640)})[0][0]
        expected = model.predict_proba(recipe.extract(data)[None])[0]
        np.testing.assert_allclose(on_line, expected, atol=1e-4)
        assert on_line.argmax() == expected.argmax()


def test_artifacts_round_trip_byte_for_byte_and_refuse_damage(workload: WorkloadFeatures) -> None:
    recipe = get_recipe()
    model = recipe.fit(workload.features, workload.truth, n_classes=len(CLASSES), seed=0)
    assert isinstance(model, FittedModel)
    artifact = model.to_bytes()
    loaded = recipe.load_model(artifact)
    assert loaded.to_bytes() == artifact
    assert loaded.predict_proba(workload.features).tobytes() == model.predict_proba(workload.features).tobytes()
    assert b"pickle" not in artifact and artifact.startswith(b"CONCORD-LINEAR-HEAD\n")
    with pytest.raises(ValueError, match="not a Concord"):
        recipe.load_model(b"\x80\x04pickled")
    with pytest.raises(ValueError, match="trailing or missing"):
        recipe.load_model(artifact[:-8])
    narrow = LinearHead.from_bytes(artifact)
    small = LinearHead(mean=narrow.mean[:3], scale=narrow.scale[:3], weights=narrow.weights[:, :3],
                       bias=narrow.bias, info={})
    with pytest.raises(ValueError, match="inputs"):
        recipe.load_model(small.to_bytes())
    with pytest.raises(ValueError, match="class names"):
        recipe.to_onnx(model, class_names=["ok"])


@pytest.mark.parametrize("level", [0, 128, 255], ids=["black", "grey", "white"])
def test_an_image_with_no_part_gives_finite_features(level: int) -> None:
    buffer = io.BytesIO()
    Image.new("RGB", (640, 480), (level, level, level)).save(buffer, format="PNG")
    features = get_recipe().extract(buffer.getvalue())
    assert np.isfinite(features).all()
