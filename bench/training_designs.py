"""Which default recipe: candidate designs compared on the same workload images, out of fold.

Each design turns every image into features, then app.training.engine.train runs the same 5-fold
stratified group k-fold (seed 0, near-duplicates kept together) and the out-of-fold predictions are
scored against the generator's truth (app.training.metrics.evaluate). Designs:

- thumbnail: the global downsample, grey 80x60 pixels (Pillow reduce 8) + the linear head;
- filterbank, coarse only: the filter bank from half resolution down (no full-resolution scale);
- filterbank (default): one full-resolution scale (sigma 1), then half resolution and 8x8 cells;
- filterbank, two full-resolution scales: sigma 1 and 2 at full resolution;
- default features + gradient boosting: scikit-learn's HistGradientBoostingClassifier as the head.

Time: `extract_ms_cpu` is the CPU time of extraction (all threads) per image, steadier than wall
time on a shared machine; `extract_images_per_s` is the wall rate on 2 workers; `head_s` the wall
time of the 5 folds and the final fit on cached features (a retraining).

Not part of `make bench` (run_all skips it): it decides a design, it does not track one.
    .venv/bin/python bench/training_designs.py [--images 3000] [--seed 7] [--quick]
"""
from __future__ import annotations

import argparse
import io
import json
import sys
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import numpy as np
from PIL import Image
from threadpoolctl import threadpool_limits

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from app.training import filterbank  # noqa: E402
from app.training.engine import train  # noqa: E402
from app.training.extract import extract_many  # noqa: E402
from app.training.filterbank_recipe import HEAD, PREPROCESSING, recipe  # noqa: E402
from app.training.graph_recipe import GraphRecipe  # noqa: E402
from app.training.head import LinearHead, fit_linear  # noqa: E402
from app.training.metrics import evaluate  # noqa: E402
from bench._training_data import CLASSES, workload  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"
COARSE = [[8, "all", 1.0], [8, "all", 2.0], [8, "all", 3.5]]
VARIANTS = {
    "filterbank, coarse only": [[2, "grey", 1.0], [2, "grey", 2.0], *COARSE],
    "filterbank (default)": filterbank.DEFAULT_PARAMS["scales"],
    "filterbank, two full-resolution scales": [[1, "grey", 1.0], [1, "grey", 2.0], [2, "grey", 2.0], *COARSE],
}


class Thumbnail:
    """The global downsample: grey 80x60 pixels scaled to 0..1."""

    identity = recipe().identity
    dimension = 80 * 60

    def extract(self, data: bytes) -> np.ndarray:
        with Image.open(io.BytesIO(data)) as im:
            return np.asarray(im.convert("L").reduce(8), dtype=np.float32).reshape(-1) / 255.0

    def fit(self, features: np.ndarray, labels: np.ndarray, *, n_classes: int, seed: int) -> LinearHead:
        # 4,800 pixels make lbfgs slow to converge; 200 iterations are past the point it stops improving.
        return fit_linear(features, labels, n_classes=n_classes, c=HEAD["c"], max_iter=200)


class Boosted:
    """The default features with scikit-learn's histogram gradient boosting as the head."""

    identity = recipe().identity

    def fit(self, features: np.ndarray, labels: np.ndarray, *, n_classes: int, seed: int):
        from sklearn.ensemble import HistGradientBoostingClassifier

        with threadpool_limits(1):  # OpenMP threads spin and crawl on a shared machine
            model = HistGradientBoostingClassifier(random_state=seed).fit(features, labels)
        return _Proba(model, n_classes)


class _Proba:
    def __init__(self, model, n_classes: int) -> None:
        self.model, self.n_classes = model, n_classes

    def predict_proba(self, features: np.ndarray) -> np.ndarray:
        out = np.zeros((features.shape[0], self.n_classes))
        with threadpool_limits(1):
            out[:, self.model.classes_] = self.model.predict_proba(features)
        return out


def variant(scales: list) -> GraphRecipe:
    params = {**filterbank.DEFAULT_PARAMS, "scales": scales}
    base = recipe().identity
    identity = replace(base, params={**base.params, "features": params})
    return GraphRecipe(identity, filterbank.build(params), preprocessing=PREPROCESSING,
                       dimension=len(filterbank.feature_names(params)))


def measure(name: str, extractor, head, data) -> tuple[dict, np.ndarray]:
    print(f"  {name}", file=sys.stderr, flush=True)
    readers: list[Callable[[], bytes]] = [lambda p=p: p.read_bytes() for p in data.files]
    wall, cpu = time.perf_counter(), time.process_time()
    x = extract_many(extractor, readers, workers=2)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    return score(name, x, head, data, wall=wall, cpu=cpu), x


def score(name: str, x: np.ndarray, head, data, *, wall: float, cpu: float) -> dict:
    started = time.perf_counter()
    trained = train(head, x, data.truth, n_classes=len(CLASSES), seed=0, groups=data.groups)
    head_s = time.perf_counter() - started
    result = evaluate(data.truth, trained.oof_proba, n_classes=len(CLASSES), n_boot=1000)
    return {"design": name, "features": int(x.shape[1]), "accuracy": result.accuracy.value,
            "accuracy_low": result.accuracy.low, "accuracy_high": result.accuracy.high,
            "macro_f1": result.macro_f1.value,
            "recall": {c: s.recall.value for c, s in zip(CLASSES, result.per_class, strict=True)},
            "extract_ms_cpu": 1000 * cpu / len(data.files), "extract_images_per_s": len(data.files) / wall,
            "head_s": head_s}


def table(rows: list[dict]) -> str:
    lines = ["| design | features | accuracy [95 % CI] | macro-F1 | recall ok / scratch / dent / pit / discol. | "
             "extraction CPU ms/image | 5 folds + final fit |", "|---|---|---|---|---|---|---|"]
    for r in rows:
        recall = " / ".join(f"{r['recall'][c]:.3f}" for c in CLASSES)
        lines.append(f"| {r['design']} | {r['features']} | {r['accuracy']:.4f} [{r['accuracy_low']:.3f}, "
                     f"{r['accuracy_high']:.3f}] | {r['macro_f1']:.4f} | {recall} | {r['extract_ms_cpu']:.1f} | "
                     f"{r['head_s']:.1f} s |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--images", type=int, default=3000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--quick", action="store_true", help="600 images")
    parser.add_argument("--data-dir", type=Path, default=REPO / "var" / "bench")
    args = parser.parse_args()
    data = workload(600 if args.quick else args.images, args.seed, args.data_dir)
    rows = []
    thumb = Thumbnail()
    rows.append(measure("thumbnail 80x60 + linear head", thumb, thumb, data)[0])
    default_x = None
    for name, scales in VARIANTS.items():
        chosen = variant(scales)
        row, x = measure(name + " + linear head", chosen, chosen, data)
        rows.append(row)
        if scales == filterbank.DEFAULT_PARAMS["scales"]:
            default_x, default_row = x, row
    assert default_x is not None
    boosted = score("filterbank (default) + gradient boosting", default_x, Boosted(), data, wall=1.0, cpu=0.0)
    boosted["extract_ms_cpu"] = default_row["extract_ms_cpu"]
    rows.append(boosted)
    out = {"bench": "training_designs", "images": len(data.files), "seed": args.seed, "rows": rows,
           "table": table(rows)}
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "training_designs.json").write_text(json.dumps(out, indent=2) + "\n")
    print(table(rows))


if __name__ == "__main__":
    main()
