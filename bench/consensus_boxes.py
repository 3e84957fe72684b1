"""Consensus box rules against the truth: which clusters of labelers' boxes should become final boxes.

Data: ../shared/workload/make_inspection_set.py (default profiles: careful, normal, confuses-dent-pit,
lazy-ok, sloppy-boxes; 3 labels per image), several seeds. Each image's answers are clustered exactly
as the consistency service does (app.consistency.boxes.cluster_image, the project defaults: match IoU
0.3 with a 2 px tolerance); each candidate rule keeps some clusters as consensus boxes (median corners,
majority class of the members). A kept box is right when it matches a true box of the same class at
plain IoU >= 0.5 (one-to-one, Hungarian); precision = right / kept, recall = right / true boxes.

Two situations per rule: `consensus` (the boxes the service proposes with its majority-vote image
class, as a reviewer's "accept consensus" takes them: an image voted ok has no box) and `decided`
(after a reviewer set every image's class to the true one without looking at boxes, as a bulk
`review decide` does: an image decided ok keeps no box; the rest keep the rule's boxes).

Not a speed figure but a quality one: no reference implementation exists; "every cluster, most frequent
class" is what Concord did before the rule was chosen. Prints one JSON object (bench/README.md format)
and writes it to bench/results/consensus_boxes.json.
    .venv/bin/python bench/consensus_boxes.py [--quick] [--images 1000] [--seeds 0,1,2]
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
from scipy.optimize import linear_sum_assignment

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from app.consistency.boxes import (  # noqa: E402
    BoxCluster,
    BoxParams,
    cluster_image,
    iou_matrix,
    is_supported,
    settled_class,
)
from tests.consistency.workload import Workload, load_workload  # noqa: E402
from tests.support.shared import workload_script  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"
MATCH_IOU = 0.5
# A rule gives a cluster's box its class, or None to leave it out. `decided` is the image class a
# person decided (None in the `consensus` situation: the consensus's own class then breaks ties).
Rule = Callable[[BoxCluster, int, int | None], int | None]


def _majority_class(c: BoxCluster, n: int, decided: int | None) -> int | None:
    return c.consensus_class if is_supported(c.members.size, n) else None


RULES: dict[str, Rule] = {
    "every cluster, most frequent class (before)": lambda c, n, d: c.consensus_class,
    "two or more labelers": lambda c, n, d: c.consensus_class if c.members.size >= 2 else None,
    "a majority of the image's labelers": _majority_class,
    "a majority, class held by a majority of its members":
        lambda c, n, d: c.consensus_class if is_supported(c.members.size, n) and c.class_agreement > 0.5 else None,
    "a majority, class by majority, a tie to the decided class (chosen)":
        lambda c, n, d: settled_class(c.classes.tolist(), d) if is_supported(c.members.size, n) else None,
    "every labeler": lambda c, n, d: c.consensus_class if c.members.size == n else None,
}


def generate(out: Path, images: int, seed: int) -> Workload:
    subprocess.run([sys.executable, str(workload_script()), "--out", str(out), "--images", str(images),
                    "--seed", str(seed), "--quiet"], check=True, stdout=subprocess.DEVNULL)
    return load_workload(out)


def right(kept: list[tuple[np.ndarray, int]], truth: tuple[np.ndarray, np.ndarray] | None) -> int:
    """Kept boxes matching a true box of the same class at IoU >= 0.5, one to one."""
    if not kept or truth is None or not len(truth[1]):
        return 0
    boxes = np.array([k[0] for k in kept])
    classes = np.array([k[1] for k in kept])
    iou = iou_matrix(boxes, truth[0]) * (classes[:, None] == truth[1][None, :])
    rows, cols = linear_sum_assignment(-iou)
    return int((iou[rows, cols] >= MATCH_IOU).sum())


def kept(clusters: list[BoxCluster], n: int, rule: Rule, decided: int | None) -> list[tuple[np.ndarray, int]]:
    out = []
    for c in clusters:
        cls = rule(c, n, decided)
        if cls is not None:
            out.append((c.consensus, cls))
    return out


def measure(work: Workload) -> dict[str, dict[str, dict[str, float]]]:
    b = work.boxes
    labelers_of = {i: np.unique(work.triples.labeler[work.triples.item == i]) for i in range(len(work.files))}
    ok = work.classes.index("ok")
    voted = np.bincount(work.triples.item * len(work.classes) + work.triples.label,
                        minlength=len(work.files) * len(work.classes)).reshape(len(work.files), -1)
    tally = {rule: {s: [0, 0] for s in ("consensus", "decided")} for rule in RULES}
    true_boxes = sum(len(v[1]) for v in work.truth_boxes.values())
    for image in range(len(work.files)):
        mask = b.image == image
        found = cluster_image(b.xywh[mask], b.cls[mask], b.labeler[mask], labelers_of[image], BoxParams())
        n = found.labelers.size
        truth = work.truth_boxes.get(image)
        proposed, true_class = int(voted[image].argmax()), int(work.truth[image])
        for name, rule in RULES.items():
            consensus = [] if proposed == ok else kept(found.clusters, n, rule, proposed)
            decided = [] if true_class == ok else kept(found.clusters, n, rule, true_class)
            for situation, boxes in (("consensus", consensus), ("decided", decided)):
                tally[name][situation][0] += len(boxes)
                tally[name][situation][1] += right(boxes, truth)
    return {rule: {s: {"boxes": kept, "right": hit, "true_boxes": true_boxes,
                       "precision": round(hit / kept, 4) if kept else float("nan"),
                       "recall": round(hit / true_boxes, 4)}
                   for s, (kept, hit) in by.items()} for rule, by in tally.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=1000)
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--quick", action="store_true", help="one seed of 300 images")
    args = parser.parse_args()
    if args.quick:
        args.images, args.seeds = 300, "0"
    started = time.perf_counter()
    per_seed, totals = {}, {}
    with tempfile.TemporaryDirectory() as tmp:
        for seed in (int(s) for s in args.seeds.split(",")):
            figures = measure(generate(Path(tmp) / f"s{seed}", args.images, seed))
            per_seed[seed] = figures
            for rule, by in figures.items():
                for situation, f in by.items():
                    t = totals.setdefault(rule, {}).setdefault(situation, [0, 0, 0])
                    t[0] += f["boxes"]
                    t[1] += f["right"]
                    t[2] += f["true_boxes"]
    pooled = {rule: {s: {"precision": round(k[1] / k[0], 4), "recall": round(k[1] / k[2], 4), "boxes": k[0]}
                     for s, k in by.items()} for rule, by in totals.items()}
    seeds = args.seeds.split(",")
    size = f"{len(seeds)} x {args.images:,} workload images"
    figures = [{"name": f"{what} ({situation}): {rule}", "value": f[what], "unit": "", "size": size,
                "database": None, "reference": None}
               for rule, by in pooled.items() for situation, f in by.items() for what in ("precision", "recall")]
    result = {"bench": "consensus_boxes", "figures": figures,
              "environment": {"match": "IoU >= 0.5 and the same class", "pooled": pooled, "per_seed": per_seed,
                              "seconds": round(time.perf_counter() - started, 1)}}
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "consensus_boxes.json").write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
