"""A recipe made of an ONNX feature graph run by ONNX Runtime and the linear head (`head.py`).

Both recipes are this: the default's graph is the filter bank, the backbone recipe's graph is the
admin's network wrapped with its preprocessing and pooling. Features come from the graph, and the
exported model is the same graph with the head appended, so the line runs what was evaluated.
"""
from __future__ import annotations

import json
import threading
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import onnx
import onnxruntime as ort

from app.training import images
from app.training.head import LinearHead, fit_linear
from app.training.onnxgraph import Graph, session, tensor
from app.training.recipe import FittedModel, RecipeIdentity


class GraphRecipe:
    """`feature_graph`: an ONNX model with input "image" (1, 3, H, W) float32 RGB 0..255 and one
    output (1, d) float32. `preprocessing`: the text for the exported model's metadata."""

    def __init__(self, identity: RecipeIdentity, feature_graph: bytes, *, preprocessing: str, dimension: int) -> None:
        self.identity = identity
        self.dimension = dimension
        self._graph = feature_graph
        self._preprocessing = preprocessing
        features = identity.params["features"]
        self.input_height, self.input_width = int(features["input_height"]), int(features["input_width"])
        self._head: Mapping[str, Any] = identity.params["head"]
        self._session: ort.InferenceSession | None = None
        self._lock = threading.Lock()

    @property
    def session(self) -> ort.InferenceSession:
        """One single-threaded session shared by all extracting threads (ONNX Runtime allows
        concurrent runs); each image's result is independent of the others and of the thread."""
        with self._lock:
            if self._session is None:
                self._session = session(self._graph, threads=1)
            return self._session

    def extract(self, data: bytes) -> np.ndarray:
        tensor_in = images.decode(data, height=self.input_height, width=self.input_width)
        out = self.session.run(None, {"image": tensor_in})[0]
        return np.asarray(out, dtype=np.float32).reshape(-1)

    def fit(self, features: np.ndarray, labels: np.ndarray, *, n_classes: int, seed: int) -> LinearHead:
        """`seed` does not change the result (lbfgs is deterministic); it is taken for the interface."""
        x = np.asarray(features)
        if x.ndim != 2 or x.shape[1] != self.dimension:
            raise ValueError(f"features must be (n, {self.dimension}) for {self.identity.name}, got {x.shape}")
        head = self._head
        return fit_linear(x, labels, n_classes=n_classes, c=float(head["c"]), max_iter=int(head["max_iter"]))

    def load_model(self, artifact: bytes) -> LinearHead:
        head = LinearHead.from_bytes(artifact)
        if head.mean.size != self.dimension:
            raise ValueError(f"this model has {head.mean.size} inputs; {self.identity.name} makes {self.dimension}")
        return head

    def to_onnx(self, model: FittedModel, *, class_names: Sequence[str]) -> bytes:
        if not isinstance(model, LinearHead):
            raise TypeError("to_onnx takes a model this recipe fitted or loaded")
        if len(class_names) != model.n_classes:
            raise ValueError(f"{len(class_names)} class names for a model of {model.n_classes} classes")
        proto = onnx.load_from_string(self._graph)
        features_name = proto.graph.output[0].name
        g = Graph("head_")
        probabilities = model.append_to(g, features_name)
        proto.graph.node.extend(g.nodes)
        proto.graph.initializer.extend(g.initializers)
        del proto.graph.output[:]
        proto.graph.output.append(tensor(probabilities, [1, model.n_classes]))
        meta = {
            "concord.recipe": json.dumps(self.identity.as_dict(), sort_keys=True),
            "concord.class_names": json.dumps(list(class_names)),
            "concord.input": f"image: float32 (1, 3, {self.input_height}, {self.input_width}), RGB, 0..255",
            "concord.output": "probabilities: float32 (1, C), softmax over concord.class_names in that order",
            "concord.preprocessing": self._preprocessing,
        }
        del proto.metadata_props[:]
        for key, value in meta.items():
            proto.metadata_props.append(onnx.StringStringEntryProto(key=key, value=value))
        proto.doc_string = f"Concord {self.identity.name} v{self.identity.version}: defect class of one image"
        onnx.checker.check_model(proto, full_check=True)
        serialized: bytes = proto.SerializeToString()
        return serialized
