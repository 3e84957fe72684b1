"""The model card that travels with an exported model: what it was trained on, how well it did (with
intervals), what it is for, and where it is known to be weaker. Pure: stored run facts in, JSON and
Markdown out."""
from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

INTENDED_USE = (
    "Suggests the defect class of one image, from the lines, cameras and products that the dataset "
    "version holds, to a person who reviews the suggestion."
)
NOT_FOR = [
    "rejecting parts without a person's review",
    "images from lines, cameras, lighting or products the dataset version does not hold",
    "defect classes it was not trained on (it always answers one of its own classes)",
]
MIN_SUPPORT = 10  # test images of a class: fewer and its figures say little


def weak_spots(metrics: Mapping[str, Any]) -> dict[str, list[dict[str, Any]]]:
    """Slices and classes clearly weaker than the model overall: their interval's upper bound lies
    below the overall point estimate of the same predictions (test split, or out of fold)."""
    slices = []
    for item in metrics.get("slices", []):
        overall = _value((metrics.get(item.get("source", "")) or {}).get("accuracy"))
        high = (item.get("accuracy") or {}).get("high")
        if overall is not None and high is not None and high < overall:
            slices.append({"dimension": item["dimension"], "value": item["value"], "n": item["n"],
                           "source": item["source"], "accuracy": item["accuracy"], "overall_accuracy": overall})
    classes = []
    for source in ("evaluation", "out_of_fold"):
        figures = metrics.get(source) or {}
        overall = _value(figures.get("macro_f1"))
        for row in figures.get("per_class", []):
            high = (row.get("f1") or {}).get("high")
            if overall is not None and high is not None and high < overall:
                classes.append({"name": row["name"], "source": source, "support": row["support"], "f1": row["f1"],
                                "recall": row["recall"], "overall_macro_f1": overall})
    return {"slices": slices, "classes": classes}


def _value(interval: Mapping[str, Any] | None) -> float | None:
    return None if not interval else interval.get("value")


def few_examples(metrics: Mapping[str, Any]) -> list[str]:
    figures = metrics.get("evaluation") or {}
    return [row["name"] for row in figures.get("per_class", []) if row.get("support", 0) < MIN_SUPPORT]


def build_card(*, project_name: str, run: Mapping[str, Any], version: Mapping[str, Any],
               classes: Sequence[Mapping[str, Any]], metrics: Mapping[str, Any], onnx_sha256: str,
               onnx_io: Mapping[str, str]) -> dict[str, Any]:
    """The card as JSON: `run` and `version` hold the stored facts named below."""
    return {
        "model": f"{project_name} run {run['number']}",
        "project": project_name,
        "run": {k: run[k] for k in ("id", "number", "seed", "folds", "train_count", "eval_count", "created_at",
                                    "finished_at")},
        "dataset_version": {k: version[k] for k in ("id", "number", "name", "content_hash")},
        "recipe": dict(run["recipe_identity"]),
        "classes": [c["name"] for c in classes],
        "onnx": {"sha256": onnx_sha256, **onnx_io},
        "metrics": {"evaluation": metrics.get("evaluation"), "out_of_fold": metrics.get("out_of_fold"),
                    "slices": metrics.get("slices", []), "reference": metrics.get("reference")},
        "intended_use": INTENDED_USE,
        "not_for": NOT_FOR,
        "known_weaknesses": {**weak_spots(metrics), "few_test_images": few_examples(metrics)},
    }


def to_markdown(card: Mapping[str, Any]) -> str:
    run, version, recipe = card["run"], card["dataset_version"], card["recipe"]
    lines = [
        f"# Model card: {card['model']}",
        "",
        f"Recipe **{recipe.get('name')}** version {recipe.get('version')}, seed {run['seed']}, {run['folds']} folds. "
        f"Trained on dataset version **{version['name']}** (v{version['number']}, content hash "
        f"`{version['content_hash']}`): {run['train_count']:,} training images (train and val), "
        f"{run['eval_count']:,} test images that never entered training.",
        "",
        f"ONNX file SHA-256 `{card['onnx']['sha256']}`.",
        f"Input: {card['onnx'].get('input', '')}. Output: {card['onnx'].get('output', '')}.",
        f"Preprocessing: {card['onnx'].get('preprocessing', '')}",
        "",
        "Classes, in output order: " + ", ".join(card["classes"]) + ".",
        "",
        "## Intended use",
        "",
        card["intended_use"],
        "",
        "Not for:",
        *[f"- {item}" for item in card["not_for"]],
        "",
        "## How well it did",
        "",
        "95% bootstrap intervals in brackets.",
        "",
    ]
    for source, title in (("evaluation", "Test split"), ("out_of_fold", "Out of fold (training images)")):
        figures = card["metrics"].get(source)
        if not figures:
            continue
        lines += [f"### {title}: {figures['n']:,} images", "",
                  f"Accuracy {_interval(figures['accuracy'])}, macro-F1 {_interval(figures['macro_f1'])}, "
                  f"ECE {_number(figures['calibration']['ece'])}, Brier {_number(figures['calibration']['brier'])}.",
                  "", f"| Class | Precision | Recall | F1 | {'Test images' if source == 'evaluation' else 'Images'} |",
                  "|---|---|---|---|---|"]
        lines += [f"| {row['name']} | {_interval(row['precision'])} | {_interval(row['recall'])} | "
                  f"{_interval(row['f1'])} | {row['support']} |" for row in figures["per_class"]]
        lines.append("")
    weak = card["known_weaknesses"]
    lines += ["## Known weaknesses", ""]
    if not weak["slices"] and not weak["classes"]:
        lines.append("No slice or class is clearly weaker than the model overall at these sample sizes.")
    for item in weak["slices"]:
        lines.append(f"- {item['dimension']} = {item['value']} ({item['n']} images, {item['source']}): accuracy "
                     f"{_interval(item['accuracy'])} against {item['overall_accuracy']:.3f} overall")
    for item in weak["classes"]:
        lines.append(f"- class {item['name']} ({item['source']}, {item['support']} images): F1 {_interval(item['f1'])} "
                     f"against macro-F1 {item['overall_macro_f1']:.3f} overall")
    if weak["few_test_images"]:
        few = ", ".join(weak["few_test_images"])
        lines.append(f"- fewer than {MIN_SUPPORT} test images, figures uncertain: {few}")
    lines += ["", "## Recipe identity", "", "```json", _json(recipe), "```", ""]
    return "\n".join(lines)


def _interval(value: Mapping[str, Any] | None) -> str:
    if not value or value.get("value") is None:
        return "n/a"
    if value.get("low") is None or value.get("high") is None:
        return f"{value['value']:.3f}"
    return f"{value['value']:.3f} [{value['low']:.3f}, {value['high']:.3f}]"


def _number(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"


def _json(value: Any) -> str:
    return json.dumps(value, indent=2, sort_keys=True)
