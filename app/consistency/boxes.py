"""Box agreement on one image: match every pair of labelers' boxes, cluster, consensus, findings.

Boxes are in image pixels: x, y (top-left), w, h, plus a class id. Pure numpy/scipy.

Small boxes. A fixed IoU threshold is harsh on tiny defects: on a 5 px pit a one-pixel slip in x and
in y already drops IoU to 0.47, while the same slip on a 60 px dent costs 0.03. We therefore compare
boxes with a pixel tolerance: each box is grown by `tolerance_px` on every side before the IoU is
taken ("tolerant IoU"). A 5 px pit becomes 9 px and the same slip keeps IoU 0.65; a 60 px dent
barely moves (0.94 vs 0.94). It acts on the short side, so 2 px thin scratches benefit too, which a
threshold scaled by area would miss. The plain IoU is still reported for every member.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
from scipy.optimize import linear_sum_assignment

from app.consistency.metrics import CoincidenceAccumulator


@dataclass(frozen=True)
class BoxParams:
    match_iou: float = 0.3  # tolerant IoU for two labelers' boxes to be the same object
    localization_iou: float = 0.6  # tolerant IoU with the consensus under which a member is flagged
    tolerance_px: float = 2.0


def as_boxes(boxes: list[dict[str, Any]]) -> tuple[np.ndarray, np.ndarray]:
    """[{x, y, w, h, class_id}] -> ((n, 4) float xywh, (n,) int class ids)."""
    xywh = np.array([[b["x"], b["y"], b["w"], b["h"]] for b in boxes], dtype=float).reshape(-1, 4)
    cls = np.array([b["class_id"] for b in boxes], dtype=np.int64)
    return xywh, cls


def iou_matrix(a: np.ndarray, b: np.ndarray, *, tolerance_px: float = 0.0) -> np.ndarray:
    """(len(a), len(b)) IoU of xywh boxes, each grown by tolerance_px on every side first."""
    a = np.asarray(a, dtype=float).reshape(-1, 4)
    b = np.asarray(b, dtype=float).reshape(-1, 4)
    t = tolerance_px
    ax0, ay0 = a[:, 0] - t, a[:, 1] - t
    ax1, ay1 = a[:, 0] + a[:, 2] + t, a[:, 1] + a[:, 3] + t
    bx0, by0 = b[:, 0] - t, b[:, 1] - t
    bx1, by1 = b[:, 0] + b[:, 2] + t, b[:, 1] + b[:, 3] + t
    iw = np.clip(np.minimum(ax1[:, None], bx1[None]) - np.maximum(ax0[:, None], bx0[None]), 0, None)
    ih = np.clip(np.minimum(ay1[:, None], by1[None]) - np.maximum(ay0[:, None], by0[None]), 0, None)
    inter = iw * ih
    union = ((ax1 - ax0) * (ay1 - ay0))[:, None] + ((bx1 - bx0) * (by1 - by0))[None] - inter
    iou: np.ndarray = np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)
    return iou


def match_pair(a: np.ndarray, b: np.ndarray, *, min_iou: float,
               tolerance_px: float = 0.0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Optimal one-to-one matching of two labelers' boxes (Hungarian) among pairs with IoU >= min_iou:
    as many pairs as possible first, then the largest total IoU (gain 1 + IoU per valid pair), so one
    very good pair never leaves two acceptable ones unmatched."""
    return _assign(iou_matrix(a, b, tolerance_px=tolerance_px), min_iou)


def _assign(iou: np.ndarray, min_iou: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    if iou.size == 0:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty, np.zeros(0)
    valid = iou >= min_iou
    if iou.shape == (1, 1):  # the common case: one box each, no assignment problem to solve
        hit = np.flatnonzero(valid.ravel())
        return hit, hit.copy(), iou.ravel()[hit]
    rows, cols = linear_sum_assignment(np.where(valid, 1.0 + iou, 0.0), maximize=True)
    keep = valid[rows, cols]
    return rows[keep], cols[keep], iou[rows[keep], cols[keep]]


@dataclass(frozen=True)
class BoxCluster:
    members: np.ndarray  # indices into the image's boxes, ordered by labeler
    labelers: np.ndarray  # labeler of each member (at most one box per labeler)
    classes: np.ndarray  # class of each member
    consensus: np.ndarray  # (4,) xywh, coordinate-wise median of the members' corners
    consensus_class: int  # most frequent member class; ties -> lowest class id
    support: float  # members / labelers of the image
    missing: np.ndarray  # labelers of the image with no box in this cluster
    class_agreement: float  # share of members whose class is consensus_class
    iou: np.ndarray  # each member's plain IoU with the consensus box
    iou_tolerant: np.ndarray  # ... and with the tolerance


@dataclass(frozen=True)
class BoxFinding:
    kind: str  # "missing_box" | "box_class_mismatch" | "box_localization"
    cluster: int
    labelers: tuple[int, ...]  # who is implicated: missing / minority class / badly placed
    value: float  # support, class agreement, or the worst tolerant IoU with the consensus


@dataclass(frozen=True)
class ImageBoxes:
    labelers: np.ndarray  # every labeler of the image, boxes drawn or not
    clusters: list[BoxCluster]
    findings: list[BoxFinding] = field(default_factory=list)
    score: float = float("nan")


def _clusters_by_union_find(labeler: np.ndarray, edges: list[tuple[float, int, int]]) -> list[list[int]]:
    """Join matched boxes, best IoU first, refusing a join that would put two boxes of one labeler in
    a cluster (a chain A1-B1, B1-C1, C1-A2 must not glue A1 and A2)."""
    parent = list(range(labeler.size))
    owners = [{int(labeler[i])} for i in range(labeler.size)]

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for _, i, j in sorted(edges, key=lambda e: (-e[0], e[1], e[2])):
        ri, rj = root(i), root(j)
        if ri != rj and not owners[ri] & owners[rj]:
            parent[rj] = ri
            owners[ri] |= owners[rj]
    groups: dict[int, list[int]] = {}
    for i in range(labeler.size):
        groups.setdefault(root(i), []).append(i)
    return sorted(groups.values(), key=lambda g: g[0])


def cluster_image(xywh: np.ndarray, cls: np.ndarray, labeler: np.ndarray, labelers_on_image: npt.ArrayLike,
                  params: BoxParams = BoxParams()) -> ImageBoxes:
    """Match each pair of labelers' boxes, group matches across labelers, and judge each cluster.

    `labelers_on_image` lists everyone who annotated the image, including those who drew no box:
    they count as having missed every cluster."""
    xywh = np.asarray(xywh, dtype=float).reshape(-1, 4)
    cls = np.asarray(cls, dtype=np.int64)
    labeler = np.asarray(labeler, dtype=np.int64)
    everyone = np.unique(np.concatenate([np.asarray(labelers_on_image, dtype=np.int64), labeler]))
    by_labeler = {int(lab): np.flatnonzero(labeler == lab) for lab in np.unique(labeler)}
    keys = sorted(by_labeler)
    tolerant = iou_matrix(xywh, xywh, tolerance_px=params.tolerance_px)  # every pair once, sliced below
    edges: list[tuple[float, int, int]] = []
    for n, la in enumerate(keys):
        for lb in keys[n + 1:]:
            ia, ib = by_labeler[la], by_labeler[lb]
            r, c, iou = _assign(tolerant[np.ix_(ia, ib)], params.match_iou)
            edges.extend(zip(iou.tolist(), ia[r].tolist(), ib[c].tolist(), strict=True))
    groups = _clusters_by_union_find(labeler, edges)
    clusters = [_judge(np.array(g), xywh, cls, labeler, everyone, params) for g in groups]
    findings = [f for k, c in enumerate(clusters) for f in cluster_findings(k, c, params)]
    return ImageBoxes(labelers=everyone, clusters=clusters, findings=findings,
                      score=box_agreement_score(clusters, everyone.size, params))


def _judge(members: np.ndarray, xywh: np.ndarray, cls: np.ndarray, labeler: np.ndarray, everyone: np.ndarray,
           params: BoxParams) -> BoxCluster:
    members = members[np.argsort(labeler[members], kind="stable")]
    boxes = xywh[members]
    corners = np.column_stack([boxes[:, 0], boxes[:, 1], boxes[:, 0] + boxes[:, 2], boxes[:, 1] + boxes[:, 3]])
    x0, y0, x1, y1 = np.median(corners, axis=0) if len(members) > 1 else corners[0]
    consensus = np.array([x0, y0, x1 - x0, y1 - y0])
    member_cls = cls[members]
    votes = np.bincount(member_cls)
    consensus_class = int(votes.argmax())
    drew = set(labeler[members].tolist())
    grow = np.array([-1.0, -1.0, 2.0, 2.0]) * params.tolerance_px  # plain and tolerant IoU in one call
    both = iou_matrix(np.vstack([boxes, boxes + grow]), np.vstack([consensus, consensus + grow]))
    return BoxCluster(
        members=members, labelers=labeler[members], classes=member_cls, consensus=consensus,
        consensus_class=consensus_class, support=members.size / everyone.size,
        missing=np.array([u for u in everyone.tolist() if u not in drew], dtype=np.int64),
        class_agreement=float(votes[consensus_class] / members.size),
        iou=both[:len(members), 0], iou_tolerant=both[len(members):, 1],
    )


def is_supported(members: int, labelers: int) -> bool:
    """Whether a cluster may become a final box without a person accepting it: a strict majority of
    the image's labelers drew it (2 of 3, 3 of 4 or 5; a single labeler's own boxes when alone).
    Measured on workload data against every cluster, two or more labelers, and every labeler: see
    the README ("Consensus boxes") and bench/consensus_boxes.py."""
    return 2 * members > labelers


def settled_class(member_classes: Sequence[int], decided: int | None = None) -> int | None:
    """The class a supported cluster's box takes: the one a strict majority of its members gave; on
    a tie, the image class a person decided when it is one of the tied classes; else None (the box
    is left out and its conflict stays for a person). On workload data this keeps precision at 0.99
    where "the most frequent class, ties to the lowest id" gave 0.93 (bench/consensus_boxes.py)."""
    votes = Counter(member_classes)
    if not votes:
        return None
    top = max(votes.values())
    tied = [c for c, n in votes.items() if n == top]
    if len(tied) == 1 and 2 * top > len(member_classes):
        return tied[0]
    return decided if decided in tied else None


def cluster_findings(index: int, c: BoxCluster, params: BoxParams) -> list[BoxFinding]:
    """A box not drawn by every labeler; members of different classes; a member placed badly."""
    out = []
    if c.missing.size:
        out.append(BoxFinding("missing_box", index, tuple(c.missing.tolist()), c.support))
    if c.class_agreement < 1.0:
        odd = c.labelers[c.classes != c.consensus_class]
        out.append(BoxFinding("box_class_mismatch", index, tuple(odd.tolist()), c.class_agreement))
    bad = c.iou_tolerant < params.localization_iou
    if c.members.size >= 2 and bad.any():
        out.append(BoxFinding("box_localization", index, tuple(c.labelers[bad].tolist()),
                              float(c.iou_tolerant.min())))
    return out


def box_agreement_score(clusters: list[BoxCluster], n_labelers: int, params: BoxParams) -> float:
    """Per-image box agreement in [0, 1]: the mean credit over every (cluster, labeler) slot, where a
    labeler earns its member's tolerant IoU with the consensus box if the member has the cluster's
    class, half of that if another class, and 0 for no box. 1.0 when nobody drew a box (they agree
    the image has none); NaN with fewer than two labelers (agreement is undefined)."""
    if n_labelers < 2:
        return float("nan")
    if not clusters:
        return 1.0
    credit = 0.0
    for c in clusters:
        weight = np.where(c.classes == c.consensus_class, 1.0, 0.5)
        credit += float((weight * c.iou_tolerant).sum())
    return credit / (len(clusters) * n_labelers)


def cluster_value_counts(image: ImageBoxes, n_classes: int) -> np.ndarray:
    """(clusters, n_classes + 1) counts for chance-corrected box agreement: each cluster is a unit and
    each labeler of the image gives a value, the class of its box there or "no box" (last column)."""
    counts = np.zeros((len(image.clusters), n_classes + 1), dtype=np.int64)
    for k, c in enumerate(image.clusters):
        np.add.at(counts[k], c.classes, 1)
        counts[k, n_classes] = c.missing.size
    return counts


def box_alpha(images: Iterable[ImageBoxes], n_classes: int) -> float:
    """Chance-corrected box agreement of a project: Krippendorff's alpha (nominal) over the matched
    clusters of all images, each labeler of an image giving the class of its box in the cluster or
    "no box" (KαLOS, Tschirschwitz et al. 2022). KαLOS averages one alpha per image; we pool every
    cluster into one coincidence matrix, which stays defined on images with a single cluster.
    Images where nobody drew a box add no unit. NaN when undefined."""
    acc = CoincidenceAccumulator(n_classes + 1)
    for image in images:
        acc.add(cluster_value_counts(image, n_classes))
    return acc.alpha()
