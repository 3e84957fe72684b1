"""The model as one more voice in consensus: does adding a run's out-of-fold predictions to the labelers'
answers make the consensus more accurate against the truth?

On make_inspection_set.py workload images (default 1,000, seed 5; 5 simulated labelers, 3 answers per
image), with the default recipe (filterbank):
1. consensus of the labelers alone: plurality vote, and Dawid-Skene (app.consistency.dawid_skene);
2. a model trained, 5-fold out of fold with near-duplicates in one fold, on that Dawid-Skene consensus
   (the labels a project would have before review): each image predicted by a model that never saw it;
3. the model's predicted class added as one more labeler, Dawid-Skene again (it learns the model's
   confusion matrix like anyone's); and the same with the model's vote only where it is confident.
Accuracy of each consensus against the generator's truth, and the change against (1) with a paired
bootstrap interval (app.training.metrics.compare on one-hot answers). Prints one JSON object and
writes bench/results/model_voice.json.
    .venv/bin/python bench/model_voice.py [--images 1000] [--seed 5] [--data-dir var/bench]
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from app.consistency.dawid_skene import dawid_skene
from app.consistency.metrics import majority, make_triples, vote_counts
from app.training import engine, metrics
from app.training.extract import extract_many
from app.training.recipe import get_recipe
from bench._training_data import CLASSES, REPO, Workload, workload

CONFIDENT = 0.9


def answers(w: Workload) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(item, labeler, class) codes of every labeler's image class, items in `w.files` order."""
    tasks = json.loads((w.folder / "tasks.labelstudio.json").read_text())
    index = {f.name: i for i, f in enumerate(w.files)}
    emails: dict[str, int] = {}
    rows = []
    for task in tasks:
        item = index[Path(task["data"]["image"]).name]
        for ann in task["annotations"]:
            choice = next(r["value"]["choices"][0] for r in ann["result"] if r["type"] == "choices")
            labeler = emails.setdefault(ann["completed_by"]["email"], len(emails))
            rows.append((item, labeler, CLASSES.index(choice)))
    codes = np.array(rows, dtype=np.int64)
    return codes[:, 0], codes[:, 1], codes[:, 2]


def consensus(item: np.ndarray, labeler: np.ndarray, label: np.ndarray, n: int) -> np.ndarray:
    t = make_triples(item, labeler, label, n_items=n, n_labelers=int(labeler.max()) + 1, n_classes=len(CLASSES))
    return dawid_skene(t).consensus


def onehot(codes: np.ndarray) -> np.ndarray:
    return np.eye(len(CLASSES))[codes]


def versus(truth: np.ndarray, base: np.ndarray, other: np.ndarray) -> dict[str, float]:
    k = len(CLASSES)
    d = metrics.compare(truth, onehot(base), onehot(other), n_classes=k, n_boot=2000, seed=0).accuracy
    return {"accuracy": round(d.b, 4), "delta": round(d.delta.value, 4), "low": round(d.delta.low, 4),
            "high": round(d.delta.high, 4)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=5)
    parser.add_argument("--data-dir", type=Path, default=REPO / "var" / "bench")
    parser.add_argument("--quick", action="store_true", help="300 images")
    args = parser.parse_args()
    w = workload(300 if args.quick else args.images, args.seed, args.data_dir)
    n = len(w.files)
    item, labeler, label = answers(w)
    plurality = majority(vote_counts(make_triples(item, labeler, label, n_items=n,
                                                  n_labelers=int(labeler.max()) + 1, n_classes=len(CLASSES)))).label
    people = consensus(item, labeler, label, n)
    started = time.perf_counter()
    recipe = get_recipe()
    x = extract_many(recipe, [lambda f=f: f.read_bytes() for f in w.files], workers=2)
    oof = engine.train(recipe, x, people, n_classes=len(CLASSES), seed=0, groups=w.groups).oof_proba
    seconds = time.perf_counter() - started
    model = oof.argmax(axis=1)
    voice = int(labeler.max()) + 1
    every = np.arange(n)
    with_model = consensus(np.r_[item, every], np.r_[labeler, np.full(n, voice)], np.r_[label, model], n)
    sure = np.flatnonzero(oof.max(axis=1) >= CONFIDENT)
    with_sure = consensus(np.r_[item, sure], np.r_[labeler, np.full(sure.size, voice)], np.r_[label, model[sure]], n)
    size = f"{n:,} workload images x {item.size / n:.0f} labels, seed {args.seed}"
    plus, plus_sure = versus(w.truth, people, with_model), versus(w.truth, people, with_sure)
    figure = lambda name, value: {"name": name, "value": value, "unit": "accuracy", "size": size,  # noqa: E731
                                  "database": None, "reference": None}
    result = {"bench": "model_voice", "figures": [
        figure("plurality vote", round(float(np.mean(plurality == w.truth)), 4)),
        figure("Dawid-Skene, labelers only", round(float(np.mean(people == w.truth)), 4)),
        figure("the model alone (out of fold)", round(float(np.mean(model == w.truth)), 4)),
        figure("Dawid-Skene + the model as one more labeler", plus["accuracy"]),
        figure(f"Dawid-Skene + the model where it is >= {CONFIDENT} sure", plus_sure["accuracy"]),
    ], "details": {
        "model_voice_minus_labelers": plus, "confident_voice_minus_labelers": plus_sure | {"votes": int(sure.size)},
        "changed_images": int(np.sum(with_model != people)),
        "fixed": int(np.sum((with_model == w.truth) & (people != w.truth))),
        "broken": int(np.sum((with_model != w.truth) & (people == w.truth))),
        "recipe": recipe.identity.name, "features_and_training_seconds": round(seconds, 1)}}
    text = json.dumps(result, indent=2)
    print(text)
    out = REPO / "bench" / "results" / "model_voice.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text + "\n")


if __name__ == "__main__":
    main()
