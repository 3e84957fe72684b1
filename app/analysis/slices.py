"""Slices of a project's images by metadata, their figures, and where more or better data helps most.

Pure numpy (agreement comes from app.consistency.metrics, itself pure). A slice is a set of
(dimension, value) pairs: every value of every dimension with at most MAX_VALUES values, and every
pair of two dimensions' values (line L3 x shift night), kept when it holds >= MIN_SLICE images.

Score of a slice (higher = more worth the next hour of data work):
    w * (alpha_gap + conflict_gap + accuracy_gap + 0.5 * progress_gap) + drift_bonus
with gaps = how much worse the slice is than the whole project (never negative), the weight
w = n / (n + 40) (small slices count less: their figures are noisy), and drift_bonus = 0.3 + 0.1 *
min(distance, 5) for a drifted slice not explained by a smaller drifted slice (see drift.explained_by),
0.1 for one that is. A reason in words is kept for each gap above NOTABLE.
"""
from __future__ import annotations

import itertools
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from app.consistency.metrics import class_pair_disagreement, krippendorff_alpha

MAX_VALUES = 12
MIN_SLICE = 10
SHRINK = 40.0
NOTABLE = {"alpha": 0.05, "conflicts": 0.03, "accuracy": 0.05, "progress": 0.10}

SliceKey = tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class SliceInput:
    """Per-image arrays, aligned: one entry per (non-augmented) image of the project."""

    dims: Mapping[str, np.ndarray]  # dimension -> values (object array; None = missing)
    votes: np.ndarray  # (n, K) live annotations per class
    labels_wanted: np.ndarray  # (n,)
    label: np.ndarray  # (n,) current class code (final, else consensus, else majority), -1 none
    final: np.ndarray  # (n,) final class code, -1 none
    conflict: np.ndarray  # (n,) bool: an open or settled label conflict
    predicted: np.ndarray  # (n,) the model's argmax class code, -1 none
    class_names: list[str]


@dataclass(frozen=True)
class DriftInfo:
    distance: float
    flagged: bool
    feature: str | None = None
    explained_by: str | None = None  # name of the more drifted slice whose images make this one drift
    note: str = ""  # what moved, e.g. "brightness 57 vs 71"


@dataclass
class SliceStats:
    key: SliceKey
    n: int
    class_counts: list[int]
    labeled: float  # share of images with all the labels they want
    finalized: float  # share with a final label
    alpha: float | None
    conflict_rate: float | None  # share of labeled images with a conflict
    top_pair: tuple[str, str] | None  # the class pair its labelers split on most
    model_accuracy: float | None
    n_scored: int  # images with both a prediction and a final label
    drift: DriftInfo | None = None
    score: float = 0.0
    reasons: list[str] = field(default_factory=list)

    @property
    def name(self) -> str:
        return "/".join(v for _, v in self.key) if self.key else "all images"

    @property
    def title(self) -> str:
        return ", ".join(f"{d} {v}" for d, v in self.key) if self.key else "all images"


@dataclass
class Finding:
    kind: str  # slice, confusion, balance, model
    title: str
    detail: str
    action: str
    score: float
    slice_name: str | None = None


@dataclass
class SliceReport:
    overall: SliceStats
    slices: list[SliceStats]  # ranked, best place for data work first
    findings: list[Finding]
    dimensions: list[str]
    class_names: list[str]


def slice_value(value: object) -> str | None:
    """An image metadata value as a slice value: trimmed text; None for nothing, a list or a mapping."""
    if value is None or isinstance(value, dict | list):
        return None
    text = str(value).strip()
    return text or None


def slice_key_name(key: SliceKey) -> str:
    return "/".join(v for _, v in key)


def enumerate_slices(dims: Mapping[str, np.ndarray], *, min_size: int = MIN_SLICE,
                     max_values: int = MAX_VALUES) -> list[tuple[SliceKey, np.ndarray]]:
    """Every one- and two-dimension slice with >= min_size images, as (key, boolean mask)."""
    singles: dict[str, list[tuple[str, np.ndarray]]] = {}
    for dim, values in dims.items():
        arr = np.asarray(values, dtype=object)
        present = sorted({str(v) for v in arr if v is not None and v != ""})
        if 2 <= len(present) <= max_values:  # one value is no slice; too many are ids, not conditions
            singles[dim] = [(v, np.array([x is not None and str(x) == v for x in arr])) for v in present]
    out: list[tuple[SliceKey, np.ndarray]] = []
    for dim, parts in singles.items():
        out += [(((dim, v),), m) for v, m in parts if m.sum() >= min_size]
    for a, b in itertools.combinations(singles, 2):
        for (va, ma), (vb, mb) in itertools.product(singles[a], singles[b]):
            mask = ma & mb
            if mask.sum() >= min_size:
                out.append((((a, va), (b, vb)), mask))
    return out


def _alpha(votes: np.ndarray) -> float | None:
    value = krippendorff_alpha(votes) if votes.size else float("nan")
    return None if np.isnan(value) else value


def _top_pair(votes: np.ndarray, names: list[str]) -> tuple[str, str] | None:
    if votes.shape[0] == 0 or (votes.sum(axis=1) < 2).all():
        return None
    c, k, share = class_pair_disagreement(votes).top_pairs(1, by="share")[0]
    return (names[c], names[k]) if share > 0 else None


def stats_for(inp: SliceInput, key: SliceKey, mask: np.ndarray) -> SliceStats:
    k = len(inp.class_names)
    votes = inp.votes[mask]
    label = inp.label[mask]
    n = int(mask.sum())
    n_labels = votes.sum(axis=1)
    labeled_any = n_labels > 0
    scored = (inp.predicted[mask] >= 0) & (inp.final[mask] >= 0)
    return SliceStats(
        key=key, n=n,
        class_counts=np.bincount(label[label >= 0], minlength=k).astype(int).tolist(),
        labeled=float((n_labels >= inp.labels_wanted[mask]).mean()) if n else 0.0,
        finalized=float((inp.final[mask] >= 0).mean()) if n else 0.0,
        alpha=_alpha(votes),
        conflict_rate=float(inp.conflict[mask][labeled_any].mean()) if labeled_any.any() else None,
        top_pair=_top_pair(votes, inp.class_names),
        model_accuracy=float((inp.predicted[mask][scored] == inp.final[mask][scored]).mean()) if scored.any() else None,
        n_scored=int(scored.sum()),
    )


def _gap(worse: float | None, better: float | None) -> float:
    return max(0.0, better - worse) if worse is not None and better is not None else 0.0


def score_slice(s: SliceStats, overall: SliceStats) -> None:
    """Fill `score` and `reasons` (see the module docstring)."""
    gaps = {
        "alpha": _gap(s.alpha, overall.alpha),
        "conflicts": _gap(overall.conflict_rate, s.conflict_rate),
        "accuracy": _gap(s.model_accuracy, overall.model_accuracy),
        "progress": _gap(s.labeled, overall.labeled),
    }
    weight = s.n / (s.n + SHRINK)
    s.score = weight * (gaps["alpha"] + gaps["conflicts"] + gaps["accuracy"] + 0.5 * gaps["progress"])
    reasons = []
    if s.drift is not None and s.drift.flagged:
        if s.drift.explained_by:
            s.score += 0.1
            reasons.append(f"overlaps the drifted slice {s.drift.explained_by}")
        else:
            s.score += 0.3 + 0.1 * min(s.drift.distance, 5.0)
            what = s.drift.note or s.drift.feature or "image statistics"
            reasons.append(f"drifted batch/slice: {what} ({s.drift.distance:.1f} reference SDs)")
    if gaps["alpha"] >= NOTABLE["alpha"]:
        reasons.append(f"alpha {s.alpha:.2f} vs {overall.alpha:.2f} overall")
    if gaps["conflicts"] >= NOTABLE["conflicts"] and s.conflict_rate is not None:
        pair = f", mostly {s.top_pair[0]}/{s.top_pair[1]}" if s.top_pair else ""
        reasons.append(f"{s.conflict_rate:.0%} conflicts vs {overall.conflict_rate:.0%}{pair}")
    if gaps["accuracy"] >= NOTABLE["accuracy"] and s.model_accuracy is not None:
        reasons.append(f"model accuracy {s.model_accuracy:.0%} vs {overall.model_accuracy:.0%}")
    if gaps["progress"] >= NOTABLE["progress"]:
        reasons.append(f"{s.labeled:.0%} fully labeled vs {overall.labeled:.0%}")
    s.reasons = reasons


def _slice_findings(slices: list[SliceStats]) -> list[Finding]:
    """The best-scoring slices, one per story: a slice nested in (or holding) one already told, such as
    `B05/day` beside `B05`, says the same thing again and is left to the table."""
    out = []
    told: list[set[tuple[str, str]]] = []
    for s in slices:  # best first
        if not s.reasons or s.score < 0.05:
            continue
        key = set(s.key)
        if any(key <= other or other <= key for other in told):
            continue
        told.append(key)
        drifted = s.drift is not None and s.drift.flagged and not s.drift.explained_by
        action = ("new conditions: its images were moved forward in the labeling queue; add them to training data"
                  if drifted else "label more of it with more labelers and review its conflicts first")
        out.append(Finding("slice", s.name, f"{s.title}: " + "; ".join(s.reasons), action, s.score, s.name))
    return out[:6]


def _confusion_findings(inp: SliceInput) -> list[Finding]:
    labeled = inp.votes.sum(axis=1) >= 2
    if not labeled.any():
        return []
    split = class_pair_disagreement(inp.votes[labeled])
    out = []
    for c, k, rate in split.top_pairs(2, by="rate"):
        if rate < 0.05:
            continue
        a, b = inp.class_names[c], inp.class_names[k]
        detail = (f"labelers split {a} vs {b} on {int(split.items_split[c, k])} images; pair rate {rate:.2f}, "
                  f"{split.share[c, k] * 2:.0%} of all class disagreements")
        out.append(Finding("confusion", f"{a}/{b} confusion", detail,
                           f"sharpen the defect book's {a} and {b} definitions and add examples of each", rate))
    return out


def _balance_findings(inp: SliceInput) -> list[Finding]:
    counts = np.bincount(inp.label[inp.label >= 0], minlength=len(inp.class_names))
    total = int(counts.sum())
    out = []
    for c, count in enumerate(counts):
        share = count / total if total else 0.0
        if total and (share < 0.05 or count < 30):
            detail = f"only {int(count)} images ({share:.0%} of labeled images)"
            action = f"collect more {inp.class_names[c]} images or augment them (concord augment --class ...)"
            out.append(Finding("balance", f"few {inp.class_names[c]}", detail, action,
                               0.25 * (1.0 - min(count / 30.0, 1.0)) + 0.05))
    return out


def _model_findings(inp: SliceInput) -> list[Finding]:
    scored = (inp.predicted >= 0) & (inp.final >= 0)
    if scored.sum() < MIN_SLICE:
        return []
    overall = float((inp.predicted[scored] == inp.final[scored]).mean())
    out = []
    for c, name in enumerate(inp.class_names):
        of_class = scored & (inp.final == c)
        if of_class.sum() < 5:
            continue
        recall = float((inp.predicted[of_class] == c).mean())
        if overall - recall >= 0.10:
            out.append(Finding("model", f"model misses {name}",
                               f"model recall on {name} {recall:.0%} vs accuracy {overall:.0%} overall "
                               f"({int(of_class.sum())} final labels)",
                               f"check the {name} label issues, then add {name} training data",
                               (overall - recall) * of_class.sum() / (of_class.sum() + 20.0)))  # few labels: noisy
    return out


Found = list[tuple[SliceKey, np.ndarray]]


def _distinct(found: Found, upload_dims: tuple[str, ...]) -> Found:
    """One slice per set of images: a batch that is exactly line L3 at night shows as L3/night."""
    ranked = sorted(found, key=lambda km: any(d in upload_dims for d, _ in km[0]))
    seen: set[bytes] = set()
    out = []
    for key, mask in ranked:
        packed = np.packbits(mask).tobytes()
        if packed not in seen:
            seen.add(packed)
            out.append((key, mask))
    return out


def analyze(inp: SliceInput, *, drift: Mapping[SliceKey, DriftInfo] | None = None, min_size: int = MIN_SLICE,
            upload_dims: tuple[str, ...] = ()) -> SliceReport:
    """Figures of every slice, the slices ranked, and the findings; `upload_dims` are the dimensions that
    come from the upload (batch, date), which give way to metadata when both name the same images."""
    everything = np.ones(inp.label.shape[0], dtype=bool)
    overall = stats_for(inp, (), everything)
    slices = []
    for key, mask in _distinct(enumerate_slices(inp.dims, min_size=min_size), upload_dims):
        s = stats_for(inp, key, mask)
        s.drift = (drift or {}).get(key)
        score_slice(s, overall)
        slices.append(s)
    slices.sort(key=lambda s: (-s.score, -s.n, s.name))
    findings = (_slice_findings(slices) + _confusion_findings(inp) + _balance_findings(inp)
                + _model_findings(inp))
    findings.sort(key=lambda f: -f.score)
    return SliceReport(overall=overall, slices=slices, findings=findings, dimensions=list(inp.dims),
                       class_names=list(inp.class_names))
