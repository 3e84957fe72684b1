"""The default recipe: the filter bank of `filterbank.py` with the linear head of `head.py`.

Why this one: see README, "The model loop" (measured against other designs on workload images).
"""
from __future__ import annotations

from functools import lru_cache
from typing import Any

from app.training import filterbank
from app.training.graph_recipe import GraphRecipe
from app.training.recipe import RecipeIdentity, library_versions

NAME = "filterbank"
VERSION = "2"
HEAD: dict[str, Any] = {"kind": "multinomial logistic regression on standardised features", "c": 1.0,
                        "max_iter": 1000}
PREPROCESSING = ("RGB 0..255 as decoded, at 640x480 (other sizes resized bilinearly); no scaling or mean "
                 "subtraction: the graph normalises by the part's own brightness and colour.")


def identity() -> RecipeIdentity:
    return RecipeIdentity(
        name=NAME, version=VERSION, params={"features": dict(filterbank.DEFAULT_PARAMS), "head": dict(HEAD)},
        libraries=library_versions(),
        description="Fixed multi-scale filter bank (blobs, ridges, stains) pooled over the part, "
                    "with a logistic-regression head. CPU only, nothing to download.")


@lru_cache(maxsize=1)
def recipe() -> GraphRecipe:
    """The default recipe (one instance per process: its graph and session are built once)."""
    return GraphRecipe(identity(), filterbank.build(filterbank.DEFAULT_PARAMS), preprocessing=PREPROCESSING,
                       dimension=len(filterbank.feature_names(filterbank.DEFAULT_PARAMS)))
