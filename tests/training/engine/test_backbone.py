"""The onnx-linear recipe on tiny ONNX backbones the test builds itself, valid and broken."""
from __future__ import annotations

import hashlib
import io
import json

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper
from PIL import Image

from app.training.extract import extract_many
from app.training.recipe import get_recipe

RNG = np.random.default_rng(0)
CONV = RNG.normal(size=(8, 3, 3, 3)).astype(np.float32)


def conv_backbone(*, batch: int | str = "N", size: tuple[int, int] | tuple[str, str] = (32, 48), pooled: bool = False,
                  metadata: dict[str, str] | None = None, opset: int = 13) -> bytes:
    """x (batch, 3, H, W) -> Conv 3x3 (8 filters) -> Relu -> (batch, 8, h, w), or globally pooled and
    flattened to (batch, 8) when `pooled`."""
    nodes = [helper.make_node("Conv", ["x", "w"], ["c"], pads=[1, 1, 1, 1]), helper.make_node("Relu", ["c"], ["r"])]
    out_shape: list[int | str] = [batch, 8, size[0], size[1]]
    out = "r"
    if pooled:
        nodes += [helper.make_node("GlobalAveragePool", ["r"], ["p"]), helper.make_node("Flatten", ["p"], ["emb"])]
        out, out_shape = "emb", [batch, 8]
    graph = helper.make_graph(nodes, "tiny", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [batch, 3, *size])],
                              [helper.make_tensor_value_info(out, TensorProto.FLOAT, out_shape)],
                              [numpy_helper.from_array(CONV, "w")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = 7
    for key, value in (metadata or {}).items():
        model.metadata_props.append(onnx.StringStringEntryProto(key=key, value=value))
    return model.SerializeToString()


def png(seed: int, size: tuple[int, int] = (64, 48)) -> bytes:
    pixels = np.random.default_rng(seed).integers(0, 256, size=(size[1], size[0], 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    return buffer.getvalue()


def reference_embedding(data: bytes, height: int, width: int, mean: np.ndarray, std: np.ndarray) -> np.ndarray:
    """The documented preprocessing and the tiny network, in plain numpy."""
    rgb = Image.open(io.BytesIO(data)).convert("RGB").resize((width, height), Image.Resampling.BILINEAR)
    x = (np.asarray(rgb, dtype=np.float64) / 255.0 - mean) / std
    padded = np.pad(x, ((1, 1), (1, 1), (0, 0)))
    out = np.zeros((8, height, width))
    for dy in range(3):
        for dx in range(3):
            patch = padded[dy:dy + height, dx:dx + width, :]  # (h, w, 3)
            out += np.einsum("hwc,fc->fhw", patch, CONV[:, :, dy, dx].astype(np.float64))
    return np.maximum(out, 0).mean(axis=(1, 2))


@pytest.mark.parametrize("pooled", [False, True], ids=["4-D output", "2-D output"])
def test_embeddings_follow_the_documented_preprocessing(pooled: bool) -> None:
    recipe = get_recipe("onnx-linear", backbone=conv_backbone(pooled=pooled))
    data = png(1)
    found = recipe.extract(data)
    expected = reference_embedding(data, 32, 48, np.array([0.485, 0.456, 0.406]), np.array([0.229, 0.224, 0.225]))
    assert found.dtype == np.float32 and found.shape == (8,)
    np.testing.assert_allclose(found, expected, rtol=1e-4, atol=1e-4)


def test_metadata_sets_input_size_and_normalisation() -> None:
    meta = {"concord.input_size": "20x24", "concord.mean": "0.5,0.5,0.5", "concord.std": "0.25,0.5,1"}
    backbone = conv_backbone(size=("H", "W"), metadata=meta)
    recipe = get_recipe("onnx-linear", backbone=backbone)
    features = recipe.identity.params["features"]
    assert (features["input_height"], features["input_width"]) == (20, 24)
    data = png(2)
    expected = reference_embedding(data, 20, 24, np.array([0.5, 0.5, 0.5]), np.array([0.25, 0.5, 1.0]))
    np.testing.assert_allclose(recipe.extract(data), expected, rtol=1e-4, atol=1e-4)
    symbolic = get_recipe("onnx-linear", backbone=conv_backbone(size=("H", "W")))
    assert symbolic.identity.params["features"]["input_height"] == 224  # no metadata, no static size: default


def test_identity_carries_the_backbone_hash_into_the_feature_key() -> None:
    first, second = conv_backbone(), conv_backbone(metadata={"concord.mean": "0.4,0.4,0.4"})
    a, b = get_recipe("onnx-linear", backbone=first), get_recipe("onnx-linear", backbone=second)
    assert a.identity.params["features"]["backbone_sha256"] == hashlib.sha256(first).hexdigest()
    assert a.identity.feature_key != b.identity.feature_key
    assert a.identity.feature_key == get_recipe("onnx-linear", backbone=first).identity.feature_key
    assert a.identity.feature_key != get_recipe().identity.feature_key
    json.dumps(a.identity.as_dict())  # stored with the run: JSON-able


def test_linear_head_trains_and_exports_with_the_backbone() -> None:
    recipe = get_recipe("onnx-linear", backbone=conv_backbone())
    images = [png(s) for s in range(40)]
    x = extract_many(recipe, images, workers=2)
    y = (x[:, 0] > np.median(x[:, 0])).astype(int) * 2  # classes 0 and 2 of three, learnable
    model = recipe.fit(x, y, n_classes=3, seed=0)
    assert (model.predict_proba(x).argmax(axis=1) == y).mean() > 0.9
    exported = recipe.to_onnx(model, class_names=["ok", "scratch", "dent"])
    session = ort.InferenceSession(exported, providers=["CPUExecutionProvider"])
    from app.training.images import decode

    for data in images[:5]:
        found = session.run(["probabilities"], {"image": decode(data, height=32, width=48)})[0][0]
        np.testing.assert_allclose(found, model.predict_proba(recipe.extract(data)[None])[0], atol=1e-5)
    props = {p.key: p.value for p in onnx.load_from_string(exported).metadata_props}
    assert "divided by std" in props["concord.preprocessing"]
    assert json.loads(props["concord.class_names"]) == ["ok", "scratch", "dent"]


def wrong_input_rank() -> bytes:
    graph = helper.make_graph([helper.make_node("Relu", ["x"], ["y"])], "rank3",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 32])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 3, 32])])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]).SerializeToString()


def integer_output() -> bytes:
    model = onnx.load_from_string(conv_backbone(pooled=True))
    model.graph.node.append(helper.make_node("Cast", ["emb"], ["ids"], to=TensorProto.INT64))
    del model.graph.output[:]
    model.graph.output.append(helper.make_tensor_value_info("ids", TensorProto.INT64, ["N", 8]))
    return model.SerializeToString()


def two_inputs() -> bytes:
    model = onnx.load_from_string(conv_backbone(pooled=True))
    model.graph.input.append(helper.make_tensor_value_info("mask", TensorProto.FLOAT, ["N", 1]))
    return model.SerializeToString()


def three_d_output() -> bytes:
    model = onnx.load_from_string(conv_backbone())
    model.graph.node.append(helper.make_node("Reshape", ["r", "shape"], ["tokens"]))
    model.graph.initializer.append(numpy_helper.from_array(np.array([1, 8, -1], dtype=np.int64), "shape"))
    del model.graph.output[:]
    model.graph.output.append(helper.make_tensor_value_info("tokens", TensorProto.FLOAT, [1, 8, None]))
    return model.SerializeToString()


@pytest.mark.parametrize(("backbone", "message"), [
    (b"", "empty"),
    (b"\x00garbage that is not a protobuf \xff\xfe" * 20, "not a valid ONNX model"),
    (b"PK\x03\x04 a zip file, not a model", "not a valid ONNX model"),
    (wrong_input_rank(), "must be an image batch"),
    (integer_output(), "must be float32"),
    (two_inputs(), "exactly one input"),
    (three_d_output(), r"\(N, d\) or \(N, d, h, w\)"),
    (conv_backbone(batch=4), "batch size is fixed at 4"),
    (conv_backbone(opset=9), "opset 9"),
    (conv_backbone(metadata={"concord.input_size": "big"}), "must read HxW"),
    (conv_backbone(metadata={"concord.input_size": "64x64"}), "disagrees"),
    (conv_backbone(metadata={"concord.std": "0,1,1"}), "positive"),
    (conv_backbone(metadata={"concord.mean": "0.5,0.5"}), "three numbers"),
], ids=["empty", "garbage", "zip", "input rank 3", "integer output", "two inputs", "3-D output", "batch 4",
        "old opset", "bad size", "size disagrees", "zero std", "two means"])
def test_unusable_backbones_are_refused_clearly(backbone: bytes, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        get_recipe("onnx-linear", backbone=backbone)


def test_recipe_choice_errors_speak_to_a_person() -> None:
    with pytest.raises(ValueError, match="needs a backbone"):
        get_recipe("onnx-linear")
    with pytest.raises(ValueError, match="takes no backbone"):
        get_recipe("filterbank", backbone=conv_backbone())
    with pytest.raises(ValueError, match="unknown recipe 'resnet'; the recipes are: filterbank, onnx-linear"):
        get_recipe("resnet")
