"""Recipes: fixed, versioned, deterministic training pipelines for the defect class of an image.

A recipe turns one encoded image into a feature vector (`extract`), fits a head on features and
labels (`fit`), reloads a fitted head from its artifact bytes (`load_model`) and writes the whole
pipeline as one ONNX model for the line (`to_onnx`). Its `RecipeIdentity` is stored with every run:
the same identity and seed give byte-identical predictions on the same machine.

Available: "filterbank" (the default, needs nothing) and "onnx-linear" (a pretrained backbone the
admin supplies as an ONNX file, with a linear head on its embeddings).
"""
from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from importlib import metadata
from typing import Any, Protocol, runtime_checkable

import numpy as np

DEFAULT = "filterbank"
LIBRARIES = ("numpy", "scipy", "scikit-learn", "onnx", "onnxruntime", "pillow", "threadpoolctl")
# Decoding (Pillow's libjpeg) and the graph's kernels (ONNX Runtime) shape the features' last bits:
# a cached feature is only reused under the same versions of both.
FEATURE_LIBRARIES = ("onnxruntime", "pillow")


@dataclass(frozen=True)
class RecipeIdentity:
    name: str  # "filterbank", "onnx-linear"
    version: str  # bumped whenever anything changes predictions
    params: Mapping[str, Any]  # JSON-able: everything that shapes features ("features") and head ("head")
    libraries: Mapping[str, str]  # versions in use
    description: str = ""  # one line for people choosing a recipe
    needs_backbone: bool = False  # get_recipe(name, backbone=...) wants an ONNX file

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "version": self.version, "params": _plain(self.params),
                "libraries": dict(self.libraries), "description": self.description,
                "needs_backbone": self.needs_backbone, "feature_key": self.feature_key}

    @property
    def feature_key(self) -> str:
        """SHA-256 hex of what determines features: name, version, the "features" params (which
        hold a backbone's sha256) and the decoder and runtime versions. The feature cache's key with
        the image's sha256."""
        determining = {"name": self.name, "version": self.version, "features": _plain(self.params.get("features")),
                       "libraries": {k: self.libraries.get(k, "") for k in FEATURE_LIBRARIES}}
        text = json.dumps(determining, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()


@runtime_checkable
class FittedModel(Protocol):
    @property
    def n_classes(self) -> int: ...

    def predict_proba(self, features: np.ndarray) -> np.ndarray:
        """(n, C) float64, rows sum to 1."""
        ...

    def to_bytes(self) -> bytes:
        """The artifact the loop stores: plain arrays and JSON, no pickle."""
        ...


@runtime_checkable
class Recipe(Protocol):
    identity: RecipeIdentity

    def extract(self, data: bytes) -> np.ndarray:
        """One encoded image -> 1-D float32 features; ValueError if it is not an image. Thread-safe."""
        ...

    def fit(self, features: np.ndarray, labels: np.ndarray, *, n_classes: int, seed: int) -> FittedModel: ...

    def load_model(self, artifact: bytes) -> FittedModel: ...

    def to_onnx(self, model: FittedModel, *, class_names: Sequence[str]) -> bytes:
        """A whole ONNX model: input "image" (1, 3, H, W) float32 RGB 0..255 at the recipe's input
        size, output "probabilities" (1, C); the preprocessing is described in its metadata_props."""
        ...


def library_versions() -> dict[str, str]:
    versions = {}
    for name in LIBRARIES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = ""
    return versions


def recipes() -> list[RecipeIdentity]:
    """The available recipes, the default first (the backbone recipe's identity without a backbone)."""
    from app.training import backbone, filterbank_recipe

    return [filterbank_recipe.identity(), backbone.identity(None)]


def get_recipe(name: str | None = None, *, backbone: bytes | None = None) -> Recipe:
    """The recipe called `name` (None: the default). ValueError, worded for a person, for an unknown
    name, a backbone given to a recipe that takes none, or a missing or unusable backbone."""
    from app.training import backbone as backbone_recipe
    from app.training import filterbank_recipe

    chosen = name or DEFAULT
    if chosen == filterbank_recipe.NAME:
        if backbone is not None:
            raise ValueError("the filterbank recipe takes no backbone; choose the onnx-linear recipe to use one")
        return filterbank_recipe.recipe()
    if chosen == backbone_recipe.NAME:
        if backbone is None:
            raise ValueError("the onnx-linear recipe needs a backbone: upload a pretrained ONNX model file")
        return backbone_recipe.recipe(backbone)
    known = ", ".join(r.name for r in recipes())
    raise ValueError(f"unknown recipe {chosen!r}; the recipes are: {known}")


def _plain(value: Any) -> Any:
    """A JSON round trip: tuples become lists, so identities compare equal after storage."""
    return json.loads(json.dumps(value, sort_keys=True)) if value is not None else None
