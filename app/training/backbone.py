"""The "onnx-linear" recipe: an admin-supplied pretrained ONNX backbone with a linear head.

The backbone must be an ONNX model with exactly one input, a float32 image batch (N, 3, H, W)
with N 1 or symbolic, and a float32 first output that is (N, d) or (N, d, h, w); a 4-D output is
averaged over h and w into the embedding. Preprocessing, from the model's metadata_props when
present, else the defaults used by most pretrained image networks:

| key | meaning | default |
|---|---|---|
| `concord.input_size` | "HxW" the network reads (agrees with a static input shape) | static shape, else 224x224 |
| `concord.mean` | "r,g,b" subtracted after scaling RGB to 0..1 | 0.485,0.456,0.406 (ImageNet) |
| `concord.std` | "r,g,b" divided by after that | 0.229,0.224,0.225 (ImageNet) |

Images are resized (bilinear) to the input size. The identity carries the file's SHA-256, so the
feature cache and the run record tell backbones apart.
"""
from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from app.training.graph_recipe import GraphRecipe
from app.training.onnxgraph import session, tensor
from app.training.recipe import RecipeIdentity, library_versions

NAME = "onnx-linear"
VERSION = "1"
DEFAULT_SIZE = (224, 224)
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
MIN_OPSET = 11
HEAD: dict[str, Any] = {"kind": "multinomial logistic regression on standardised embeddings", "c": 1.0,
                        "max_iter": 1000}
PREFIX = "backbone/"


@dataclass(frozen=True)
class BackboneSpec:
    sha256: str
    height: int
    width: int
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    output: str  # the backbone's output used, before our prefix
    pooling: str  # "none" (2-D output) or "spatial mean" (4-D)
    dimension: int

    def features(self) -> dict[str, Any]:
        return {"backbone_sha256": self.sha256, "input_height": self.height, "input_width": self.width,
                "mean": list(self.mean), "std": list(self.std), "output": self.output, "pooling": self.pooling,
                "dimension": self.dimension}


def identity(spec: BackboneSpec | None) -> RecipeIdentity:
    features = spec.features() if spec else {"backbone_sha256": None, "input_height": DEFAULT_SIZE[0],
                                             "input_width": DEFAULT_SIZE[1], "mean": list(IMAGENET_MEAN),
                                             "std": list(IMAGENET_STD)}
    return RecipeIdentity(
        name=NAME, version=VERSION, params={"features": features, "head": dict(HEAD)},
        libraries=library_versions(), needs_backbone=True,
        description="A pretrained image network you supply as an ONNX file, with a logistic-regression "
                    "head on its embeddings.")


def recipe(data: bytes) -> GraphRecipe:
    """Validate the backbone and wrap it; ValueError saying what is wrong with the file otherwise."""
    spec, graph = inspect(data)
    preprocessing = (f"RGB resized (bilinear) to {spec.width}x{spec.height}, scaled to 0..1, minus mean "
                     f"{list(spec.mean)}, divided by std {list(spec.std)} per channel (inside the graph: feed "
                     f"RGB 0..255)")
    return GraphRecipe(identity(spec), graph, preprocessing=preprocessing, dimension=spec.dimension)


def inspect(data: bytes) -> tuple[BackboneSpec, bytes]:
    """The backbone's spec and the wrapped feature graph ("image" 0..255 -> "features" (1, d))."""
    if not data:
        raise ValueError("the backbone file is empty")
    try:
        model = onnx.load_from_string(data)
        onnx.checker.check_model(model)
    except Exception as exc:  # protobuf and checker errors have no common base
        raise ValueError(f"the backbone is not a valid ONNX model: {str(exc).splitlines()[0][:200]}") from exc
    opset = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), 0)
    if opset < MIN_OPSET:
        raise ValueError(f"the backbone uses ONNX opset {opset}; re-export it with opset {MIN_OPSET} or newer")
    image_input = _image_input(model)
    output, rank = _float_output(model)
    height, width = _input_size(model, image_input)
    mean = _triple(model, "concord.mean", IMAGENET_MEAN)
    std = _triple(model, "concord.std", IMAGENET_STD)
    if min(std) <= 0:
        raise ValueError("concord.std in the backbone's metadata must be positive")
    graph = _wrap(model, image_input.name, output, rank, height, width, mean, std)
    dimension = _trial(graph, height, width)
    pooling = "spatial mean" if rank == 4 else "none"
    spec = BackboneSpec(sha256=hashlib.sha256(data).hexdigest(), height=height, width=width, mean=mean, std=std,
                        output=output, pooling=pooling, dimension=dimension)
    return spec, graph


def _image_input(model: onnx.ModelProto) -> onnx.ValueInfoProto:
    constants = {i.name for i in model.graph.initializer}
    inputs = [i for i in model.graph.input if i.name not in constants]
    if len(inputs) != 1:
        raise ValueError(f"the backbone must take exactly one input (an image batch); it takes {len(inputs)}: "
                         f"{', '.join(i.name for i in inputs) or 'none'}")
    found: onnx.ValueInfoProto = inputs[0]
    kind = found.type.tensor_type
    if kind.elem_type != TensorProto.FLOAT:
        raise ValueError(f"the backbone's input {found.name!r} must be float32, not "
                         f"{TensorProto.DataType.Name(kind.elem_type)}")
    dims = kind.shape.dim
    if len(dims) != 4:
        raise ValueError(f"the backbone's input {found.name!r} must be an image batch (N, 3, H, W); it has "
                         f"{len(dims)} dimensions")
    if dims[0].HasField("dim_value") and dims[0].dim_value not in (0, 1):
        raise ValueError(f"the backbone's batch size is fixed at {dims[0].dim_value}; export it with batch 1 or "
                         f"a symbolic batch")
    if dims[1].HasField("dim_value") and dims[1].dim_value != 3:
        raise ValueError(f"the backbone's input has {dims[1].dim_value} channels; it must take 3 (RGB)")
    return found


def _float_output(model: onnx.ModelProto) -> tuple[str, int]:
    if not model.graph.output:
        raise ValueError("the backbone has no output")
    first = model.graph.output[0]
    kind = first.type.tensor_type
    if kind.elem_type != TensorProto.FLOAT:
        raise ValueError(f"the backbone's output {first.name!r} must be float32 embeddings, not "
                         f"{TensorProto.DataType.Name(kind.elem_type)}")
    rank = len(kind.shape.dim) if kind.HasField("shape") else 0
    if rank not in (2, 4):
        shape = "unknown" if rank == 0 else f"{rank} dimensions"
        raise ValueError(f"the backbone's output {first.name!r} must be (N, d) or (N, d, h, w); its shape is {shape}")
    return first.name, rank


def _input_size(model: onnx.ModelProto, image_input: onnx.ValueInfoProto) -> tuple[int, int]:
    dims = image_input.type.tensor_type.shape.dim
    static = tuple(int(d.dim_value) if d.HasField("dim_value") and d.dim_value > 0 else 0 for d in dims[2:])
    declared = _meta(model, "concord.input_size")
    if declared:
        try:
            h, w = (int(v) for v in declared.lower().replace(",", "x").split("x"))
        except ValueError:
            raise ValueError(f"concord.input_size {declared!r} in the backbone's metadata must read HxW") from None
        if any(s and s != v for s, v in zip(static, (h, w), strict=True)):
            raise ValueError(f"concord.input_size {declared!r} disagrees with the backbone's input shape {static}")
        size = (h, w)
    else:
        size = (static[0] or DEFAULT_SIZE[0], static[1] or DEFAULT_SIZE[1])
    if not (8 <= size[0] <= 4096 and 8 <= size[1] <= 4096):
        raise ValueError(f"the backbone's input size {size[0]}x{size[1]} is outside 8..4096 pixels")
    return size


def _meta(model: onnx.ModelProto, key: str) -> str | None:
    return next((p.value for p in model.metadata_props if p.key == key), None)


def _triple(model: onnx.ModelProto, key: str, default: Sequence[float]) -> tuple[float, float, float]:
    text = _meta(model, key)
    if text is None:
        return (float(default[0]), float(default[1]), float(default[2]))
    try:
        values = tuple(float(v) for v in text.split(","))
    except ValueError:
        values = ()
    if len(values) != 3 or not all(np.isfinite(values)):
        raise ValueError(f"{key} {text!r} in the backbone's metadata must be three numbers r,g,b")
    return (values[0], values[1], values[2])


def _wrap(model: onnx.ModelProto, input_name: str, output: str, rank: int, height: int, width: int,
          mean: Sequence[float], std: Sequence[float]) -> bytes:
    """image (1, 3, H, W) 0..255 -> backbone -> features (1, d)."""
    inner = onnx.compose.add_prefix(model, PREFIX)
    scale = np.array([1 / (255.0 * s) for s in std], dtype=np.float32).reshape(1, 3, 1, 1)
    shift = np.array([m / s for m, s in zip(mean, std, strict=True)], dtype=np.float32).reshape(1, 3, 1, 1)
    before = [helper.make_node("Mul", ["image", "concord/scale"], ["concord/scaled"]),
              helper.make_node("Sub", ["concord/scaled", "concord/shift"], [PREFIX + input_name])]
    pooled = PREFIX + output
    after = []
    if rank == 4:
        after.append(helper.make_node("GlobalAveragePool", [pooled], ["concord/pooled"]))
        pooled = "concord/pooled"
    after.append(helper.make_node("Flatten", [pooled], ["features"], axis=1))
    graph = inner.graph
    nodes = before + list(graph.node) + after
    initializers = [*graph.initializer, numpy_helper.from_array(scale, "concord/scale"),
                    numpy_helper.from_array(shift, "concord/shift")]
    wrapped = helper.make_graph(nodes, "concord_backbone", [tensor("image", [1, 3, height, width])],
                                [tensor("features", [1, None])], initializers, value_info=list(graph.value_info))
    result = helper.make_model(wrapped, opset_imports=list(inner.opset_import), producer_name="concord")
    result.ir_version = inner.ir_version
    result.functions.extend(inner.functions)
    serialized: bytes = result.SerializeToString()
    return serialized


def _trial(graph: bytes, height: int, width: int) -> int:
    """Run the wrapped backbone once on a grey image: it must load and give finite (1, d) floats."""
    try:
        out = session(graph).run(None, {"image": np.full((1, 3, height, width), 128, dtype=np.float32)})[0]
    except Exception as exc:  # onnxruntime raises its own exception types
        raise ValueError(f"ONNX Runtime cannot run the backbone: {str(exc).splitlines()[0][:200]}") from exc
    if out.ndim != 2 or out.shape[0] != 1 or out.shape[1] < 1 or not np.isfinite(out).all():
        raise ValueError(f"the backbone gives embeddings of shape {out.shape} with non-finite values or no features")
    return int(out.shape[1])
