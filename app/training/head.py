"""The linear head both recipes train on their features: standardisation, then a multinomial
logistic regression (scikit-learn's lbfgs), stored as plain arrays and appended to ONNX graphs.

A class that is absent from the training rows gets zero weights and a bias of -1e4: its
probability is exactly 0 (exp underflows) in numpy and in ONNX alike, and every row still sums to
1. With fewer than two classes present the head predicts the one class it saw with probability 1.
"""
from __future__ import annotations

import json
import struct
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from threadpoolctl import threadpool_limits

from app.training.onnxgraph import Graph

MAGIC = b"CONCORD-LINEAR-HEAD\n"
ABSENT_BIAS = -1e4
ARRAYS = ("mean", "scale", "weights", "bias")


@dataclass(frozen=True)
class LinearHead:
    """p = softmax(((x - mean) / scale) @ weights.T + bias); arrays float64."""

    mean: np.ndarray  # (d,)
    scale: np.ndarray  # (d,) > 0
    weights: np.ndarray  # (C, d)
    bias: np.ndarray  # (C,)
    info: Mapping[str, Any]  # iterations, classes seen: for the run record, not for predictions

    @property
    def n_classes(self) -> int:
        return int(self.bias.size)

    def predict_proba(self, features: np.ndarray) -> np.ndarray:
        x = np.asarray(features, dtype=np.float64)
        if x.ndim != 2 or x.shape[1] != self.mean.size:
            raise ValueError(f"features must be (n, {self.mean.size}), got {x.shape}")
        with threadpool_limits(1):
            logits = ((x - self.mean) / self.scale) @ self.weights.T + self.bias
        logits -= logits.max(axis=1, keepdims=True)
        p = np.exp(logits)
        probabilities: np.ndarray = p / p.sum(axis=1, keepdims=True)
        return probabilities

    def to_bytes(self) -> bytes:
        """MAGIC, a JSON header line (shapes, info), then the arrays as little-endian float64."""
        header = {"arrays": {k: list(getattr(self, k).shape) for k in ARRAYS}, "info": dict(self.info)}
        body = b"".join(np.ascontiguousarray(getattr(self, k), dtype="<f8").tobytes() for k in ARRAYS)
        text = json.dumps(header, sort_keys=True, separators=(",", ":")).encode()
        return MAGIC + struct.pack("<I", len(text)) + text + body

    @classmethod
    def from_bytes(cls, data: bytes) -> LinearHead:
        if not data.startswith(MAGIC) or len(data) < len(MAGIC) + 4:
            raise ValueError("not a Concord linear head artifact")
        (size,) = struct.unpack_from("<I", data, len(MAGIC))
        start = len(MAGIC) + 4
        header = json.loads(data[start:start + size])
        shapes = {key: tuple(int(v) for v in header["arrays"][key]) for key in ARRAYS}
        offset, arrays = start + size, {}
        if offset + 8 * sum(int(np.prod(s)) for s in shapes.values()) != len(data):
            raise ValueError("linear head artifact has trailing or missing bytes")
        for key, shape in shapes.items():
            count = int(np.prod(shape))
            arrays[key] = np.frombuffer(data, dtype="<f8", count=count, offset=offset).reshape(shape).copy()
            offset += 8 * count
        return cls(info=header["info"], **arrays)

    def append_to(self, g: Graph, features: str) -> str:
        """Append the head to `g` reading (1, d) `features`; returns the (1, C) probabilities' name."""
        centred = g.op("Sub", features, g.const(self.mean))
        scaled = g.op("Div", centred, g.const(self.scale))
        logits = g.op("Add", g.op("MatMul", scaled, g.const(self.weights.T)), g.const(self.bias))
        return g.op("Softmax", logits, axis=-1, out="probabilities")


def fit_linear(features: np.ndarray, labels: np.ndarray, *, n_classes: int, c: float, max_iter: int) -> LinearHead:
    """Standardise, then fit L2-regularised multinomial logistic regression (strength 1/c).

    Deterministic: lbfgs has no randomness and BLAS runs on one thread here.
    """
    x = np.asarray(features, dtype=np.float64)
    y = np.asarray(labels, dtype=np.int64)
    if x.ndim != 2 or y.shape != (x.shape[0],) or x.shape[0] == 0:
        raise ValueError("features must be (n, d) and labels (n,) with n >= 1")
    if not np.isfinite(x).all():
        raise ValueError("features hold NaN or infinite values")
    mean = x.mean(axis=0)
    scale = x.std(axis=0)
    scale[scale < 1e-12] = 1.0  # a constant feature: leave it at 0 after centring
    present = np.unique(y)
    weights = np.zeros((n_classes, x.shape[1]))
    bias = np.full(n_classes, ABSENT_BIAS)
    iterations = 0
    if present.size == 1:
        bias[present[0]] = 0.0
    else:
        with threadpool_limits(1), warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            lr = LogisticRegression(C=c, max_iter=max_iter, tol=1e-6).fit((x - mean) / scale, y)
        coef, intercept = lr.coef_, lr.intercept_
        if present.size == 2:  # scikit-learn keeps one row for two classes: logit of the second
            coef = np.vstack([-coef / 2, coef / 2])
            intercept = np.array([-intercept[0] / 2, intercept[0] / 2])
        weights[present], bias[present] = coef, intercept
        iterations = int(np.max(lr.n_iter_))
    info = {"classes_seen": [int(c) for c in present], "iterations": iterations, "rows": int(y.size)}
    return LinearHead(mean=mean, scale=scale, weights=weights, bias=bias, info=info)
