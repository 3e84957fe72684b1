"""Full consistency recompute on 300,000 images x 3 labels (5 classes, 50 labelers), stage by stage,
beside crowd-kit's DawidSkene on the same labels in the same run.

Data: seeded; each labeler has a known confusion matrix (accuracy 0.6-0.98, errors spread at random),
each image gets 3 distinct labelers at random, class frequencies 55/20/12/8/5 %.

Time: `seconds` is wall time, `cpu_seconds` this process's CPU time (process_time; steadier when other
work shares the machine). Memory: `peak_mib` per stage is tracemalloc's peak of Python + numpy
allocations made during the stage (numpy reports its buffers to tracemalloc); `rss_peak_mib` is the
process's resident-set high-water mark (getrusage ru_maxrss) after our stages, before crowd-kit runs,
so it bounds the whole recompute including the input arrays and the interpreter.

Prints one JSON object (bench/README.md format) and writes it to bench/results/consistency.json.
    .venv/bin/python bench/consistency.py [--quick] [--images N] [--no-reference]
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import sys
import time
import tracemalloc
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from app.consistency import metrics
from app.consistency.dawid_skene import dawid_skene

RESULTS = Path(__file__).resolve().parent / "results"
PRIOR = np.array([0.55, 0.20, 0.12, 0.08, 0.05])


def generate(n_images: int, n_labelers: int, per_image: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    k = PRIOR.size
    truth = rng.choice(k, n_images, p=PRIOR)
    confusion = np.empty((n_labelers, k, k))
    for lab in range(n_labelers):
        acc = rng.uniform(0.6, 0.98)
        off = rng.dirichlet(np.ones(k - 1), size=k) * (1 - acc)
        for c in range(k):
            confusion[lab, c] = np.insert(off[c], c, acc)
    labeler = np.empty(n_images * per_image, dtype=np.int64)
    for s in range(0, n_images, 50_000):  # argsort of random keys per image, in chunks
        e = min(n_images, s + 50_000)
        chosen = np.argsort(rng.random((e - s, n_labelers)), axis=1)[:, :per_image]
        labeler[s * per_image:e * per_image] = chosen.ravel()
    item = np.repeat(np.arange(n_images), per_image)
    cum = confusion[labeler, truth[item]].cumsum(axis=1)
    answer = np.minimum((rng.random(item.size)[:, None] > cum).sum(axis=1), k - 1)
    t = metrics.make_triples(item, labeler, answer, n_items=n_images, n_labelers=n_labelers, n_classes=k)
    return t, truth


def measure(stages: list[dict], name: str, fn):
    tracemalloc.start()
    tracemalloc.reset_peak()
    started, cpu = time.perf_counter(), time.process_time()
    result = fn()
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    stages.append({"stage": name, "seconds": round(seconds, 3), "cpu_seconds": round(cpu, 3),
                   "peak_mib": round(peak / 2**20, 1)})
    return result


def rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def run_ours(t) -> tuple[list[dict], dict]:
    stages: list[dict] = []
    counts = measure(stages, "vote counts", lambda: metrics.vote_counts(t))
    vote = measure(stages, "majority", lambda: metrics.majority(counts))
    measure(stages, "vote entropy", lambda: metrics.vote_entropy(counts))
    ds = measure(stages, "dawid-skene", lambda: dawid_skene(t))
    alpha = measure(stages, "krippendorff alpha", lambda: metrics.krippendorff_alpha(counts))
    fleiss = measure(stages, "fleiss kappa", lambda: metrics.fleiss_kappa(counts))
    kappas = measure(stages, "pairwise cohen kappa", lambda: metrics.pairwise_cohen_kappa(t, min_shared=20))
    pairs = measure(stages, "class-pair matrix", lambda: metrics.class_pair_disagreement(counts))
    facts = {"alpha": alpha, "fleiss_kappa": fleiss.kappa, "ds_iterations": ds.iterations,
             "ds_converged": ds.converged, "labeler_pairs": int(kappas.kappa.size),
             "top_pair": pairs.top_pairs(1)[0][:2], "_vote": vote.label, "_ds": ds.consensus}
    return stages, facts


def run_crowd_kit(t) -> tuple[float, float, np.ndarray]:
    import pandas as pd
    from crowdkit.aggregation import DawidSkene

    frame = pd.DataFrame({"task": t.item, "worker": t.labeler, "label": t.label})
    started, cpu = time.perf_counter(), time.process_time()
    labels = DawidSkene().fit(frame).labels_  # its defaults: 100 iterations, tol 1e-5
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    return seconds, cpu, labels.reindex(range(t.n_items)).to_numpy()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="30,000 images (smoke test)")
    parser.add_argument("--images", type=int)
    parser.add_argument("--no-reference", action="store_true", help="skip crowd-kit")
    args = parser.parse_args()
    n_images = args.images or (30_000 if args.quick else 300_000)
    n_labelers, per_image = 50, 3
    size = f"{n_images:,} images x {per_image} labels, 5 classes, {n_labelers} labelers"

    t, truth = generate(n_images, n_labelers, per_image)
    rss_before = rss_mib()
    stages, facts = run_ours(t)
    rss_after = rss_mib()
    total = round(sum(s["seconds"] for s in stages), 3)
    total_cpu = round(sum(s["cpu_seconds"] for s in stages), 3)
    ds_seconds = next(s["seconds"] for s in stages if s["stage"] == "dawid-skene")
    reference = None
    if not args.no_reference:
        ck_seconds, ck_cpu, ck_labels = run_crowd_kit(t)
        reference = {"name": "crowd-kit DawidSkene (defaults)", "value": round(ck_seconds, 2), "unit": "s"}
        facts["crowd_kit_cpu_seconds"] = round(ck_cpu, 2)
        facts["crowd_kit_accuracy"] = round(float(np.mean(ck_labels == truth)), 5)
        facts["crowd_kit_same_labels"] = round(float(np.mean(ck_labels == facts["_ds"])), 5)
    facts["ds_accuracy"] = round(float(np.mean(facts.pop("_ds") == truth)), 5)
    facts["majority_accuracy"] = round(float(np.mean(facts.pop("_vote") == truth)), 5)

    figures = [
        {"name": "full classification recompute", "value": total, "unit": "s", "size": size, "database": None,
         "reference": reference},
        {"name": "Dawid-Skene", "value": ds_seconds, "unit": "s", "size": size, "database": None,
         "reference": reference},
        {"name": "recompute peak memory (RSS)", "value": round(rss_after, 1), "unit": "MiB", "size": size,
         "database": None, "reference": None},
    ]
    out = {
        "bench": "consistency",
        "figures": figures,
        "stages": stages,
        "memory": {"stage_peak": "tracemalloc peak per stage", "rss_before_mib": round(rss_before, 1),
                   "rss_peak_mib": round(rss_after, 1)},
        "target": {"recompute_vs_crowd_kit_ds": round(total / reference["value"], 3) if reference else None,
                   "recompute_vs_crowd_kit_ds_cpu": round(total_cpu / facts["crowd_kit_cpu_seconds"], 3)
                   if reference else None,
                   "goal": "<= 0.5 of crowd-kit's DS time, peak < 1024 MiB"},
        "facts": facts,
        "environment": {"python": platform.python_version(), "numpy": np.__version__,
                        "machine": platform.machine(), "load_average": list(np.round(_load(), 2))},
    }
    RESULTS.mkdir(exist_ok=True)
    text = json.dumps(out, indent=2, default=float)
    (RESULTS / "consistency.json").write_text(text + "\n")
    print(text)


def _load() -> tuple[float, float, float]:
    try:
        import os

        return os.getloadavg()
    except OSError:
        return (0.0, 0.0, 0.0)


if __name__ == "__main__":
    main()
