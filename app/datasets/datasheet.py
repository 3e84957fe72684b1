"""The datasheet of a version, as JSON and Markdown, after "Datasheets for Datasets" (Gebru et al.).

Pure rendering of the facts frozen with the version (see facts.py): the same version always gives
the same bytes. User text is escaped for Markdown tables (`|`, `<`, `>`, newlines).
"""
from __future__ import annotations

import json
from typing import Any

from app.datasets.models import DatasetVersion
from app.datasets.splits import SPLITS


def sheet(version: DatasetVersion, project_name: str) -> dict[str, Any]:
    facts = dict(version.datasheet)
    return {
        "datasheet": facts.pop("format", "concord-datasheet/1"),
        "dataset": {"project": project_name, "version": version.number, "name": version.name,
                    "description": version.description, "created_at": version.created_at.isoformat(),
                    "content_hash": version.content_hash, "defect_book_version": version.defect_book_version,
                    "filter": version.filter, "split": version.split_spec},
        **facts,
    }


def describe_filter(filter: dict[str, Any], split: dict[str, Any], names: dict[int, str]) -> list[str]:
    """The freeze filter and split in words, for people (pages and the datasheet)."""
    def kept(flag: str, what: str) -> str:
        return f"{what} {'left out' if filter.get(flag, True) else 'kept'}"

    classes = filter.get("class_ids")
    slices = filter.get("slices") or {}
    lines = [kept("exclude_ambiguous", "images a reviewer marked ambiguous"),
             kept("exclude_unresolved", "images with an open conflict about their class"),
             kept("exclude_box_disputes", "images whose boxes are still in dispute"),
             f"augmented images {'included' if filter.get('include_augmented') else 'left out'}",
             "all classes" if not classes else "classes: " + ", ".join(names.get(c, f"#{c}") for c in classes),
             "all slices" if not slices else
             "slices: " + "; ".join(f"{k} = {', '.join(v)}" for k, v in sorted(slices.items()))]
    if filter.get("min_confidence") is not None:
        lines.append(f"minimum consensus confidence {filter['min_confidence']:g}")
    if split:
        shares = "/".join(f"{round(100 * float(split.get(s, 0)))}" for s in SPLITS)
        lines.append(f"new images split {shares} % train/val/test (seed {split.get('seed', 0)})")
    return lines


def to_json(version: DatasetVersion, project_name: str) -> str:
    return json.dumps(sheet(version, project_name), indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def esc(value: Any) -> str:
    text = "–" if value is None else f"{value:.3f}" if isinstance(value, float) else str(value)
    return " ".join(text.replace("|", "\\|").replace("<", "&lt;").replace(">", "&gt;").split())


def table(header: list[str], rows: list[list[Any]]) -> list[str]:
    if not rows:
        return ["_none_", ""]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(esc(v) for v in row) + " |" for row in rows]
    return [*lines, ""]


def to_markdown(version: DatasetVersion, project_name: str) -> str:
    s = sheet(version, project_name)
    d, counts = s["dataset"], s.get("counts", {})
    out = [f"# Datasheet: {esc(project_name)}, version {d['version']} ({esc(d['name'])})", "",
           f"Content hash (SHA-256 over the sorted items): `{d['content_hash']}`  ",
           f"Frozen: {d['created_at']}; defect book version {esc(d['defect_book_version'])}.", ""]
    out += _motivation(s) + _composition(s, counts) + _collection(s.get("collection", {}))
    out += _labeling(s, s.get("labeling", {})) + _agreement(s.get("agreement", {}))
    out += _ambiguities(counts, s.get("agreement", {})) + _uses(s) + _lineage(s.get("lineage", {}))
    return "\n".join(out).rstrip() + "\n"


def _motivation(s: dict[str, Any]) -> list[str]:
    project = s.get("project", {})
    lines = ["## Motivation", "",
             "A cleaned, versioned set of labeled visual-inspection images, frozen from the decided (final) labels "
             f"of the Concord project {esc(s['dataset']['project'])}, to train and evaluate inspection models.", ""]
    for text in (s["dataset"]["description"], project.get("description")):
        if text:
            lines += [esc(text), ""]
    return lines


def _composition(s: dict[str, Any], counts: dict[str, Any]) -> list[str]:
    lines = ["## Composition", "",
             f"{counts.get('items', 0)} images (each a camera image of one part) with "
             f"{counts.get('boxes', 0)} defect boxes; task: {esc(s.get('project', {}).get('task_type'))}. "
             f"{counts.get('duplicate_groups', 0)} near-duplicate groups (each kept within one split); "
             f"{counts.get('augmented', 0)} augmented images.", "", "### Classes", ""]
    per_class = counts.get("classes", {})
    order = [c["name"] for c in s.get("classes", []) if c["name"] in per_class]
    order += sorted(set(per_class) - set(order))
    lines += table(["class", "images", "boxes", *SPLITS],
                   [[k, per_class[k]["images"], per_class[k]["boxes"], *(per_class[k][x] for x in SPLITS)]
                    for k in order])
    lines += ["### Splits", "", "Stratified by class, deterministic, and stable: an image keeps the split of "
              "its first version; near-duplicates and augmented copies share their original's split.", ""]
    # Stored JSON comes back in the database's key order (Postgres: shortest first): sort every table.
    lines += table(["split", "images"], [[k, counts.get("splits", {}).get(k, 0)] for k in SPLITS])
    for key, values in sorted(counts.get("slices", {}).items()):
        lines += [f"### Slice: {esc(key)}", "", *table([esc(key), "images"], sorted(map(list, values.items())))]
    names = {c["id"]: c["name"] for c in s.get("classes", [])}
    rules = describe_filter(s["dataset"]["filter"], s["dataset"]["split"], names)
    lines += ["### Left out", "", "Only decided labels are ever frozen. The filter: " + esc("; ".join(rules)) + ".",
              "", "Images left out, by the first rule that applied:", ""]
    lines += table(["reason", "images"], sorted(map(list, counts.get("excluded", {}).items())))
    lines += ["The data shows manufactured parts only; it holds no personal data. Labelers appear under "
              "pseudonyms.", ""]
    return lines


def _collection(c: dict[str, Any]) -> list[str]:
    lines = ["## Collection process", "",
             f"Images uploaded between {esc(c.get('uploaded_from'))} and {esc(c.get('uploaded_to'))}, in these "
             "batches (production line, camera and shift, where recorded, are the slices above):", ""]
    lines += table(["batch", "source", "uploaded", "images"],
                   [[b["name"], b["source"], b["uploaded"], b["images"]] for b in c.get("batches", [])])
    if c.get("images_without_batch"):
        lines += [f"{c['images_without_batch']} images arrived outside any batch.", ""]
    lines += table(["format", "width", "height", "images"],
                   [[f["format"], f["width"], f["height"], f["images"]] for f in c.get("formats", [])])
    return lines


def _labeling(s: dict[str, Any], lab: dict[str, Any]) -> list[str]:
    lines = ["## Labeling process", "",
             f"Labelers followed defect book version {esc(lab.get('defect_book_version'))}. {labels_given(lab)} "
             f"{overlap_policy(lab.get('overlap', {}))} {lab.get('annotations', 0)} live "
             f"{plural(lab.get('annotations', 0), 'answer')} on these images; "
             f"{plural(lab.get('conflicts_reviewed', 0), 'conflict was', 'conflicts were', count=True)} decided by a "
             "reviewer.", "", "### Class definitions", ""]
    lines += table(["class", "definition"], [[c["name"], c.get("definition", "")] for c in s.get("classes", [])])
    lines += ["### Where each final label came from", ""]
    lines += table(["source", "images"], sorted(map(list, s.get("counts", {}).get("sources", {}).items())))
    lines += ["### Labelers", ""]
    lines += table(["labeler", "answers", "accuracy (est.)", "agreement with consensus", "gold accuracy"],
                   [[r["labeler"], r["annotations"], r["accuracy"], r["agreement_with_consensus"],
                     r["gold_accuracy"]] for r in lab.get("labelers", [])])
    lines += ["### Conflicts found, by kind", ""]
    lines += table(["kind", "images"], sorted(map(list, lab.get("conflicts_by_kind", {}).items())))
    return lines


def plural(n: int, one: str, many: str | None = None, *, count: bool = False) -> str:
    word = one if n == 1 else (many or one + "s")
    return f"{n} {word}" if count else word


def labels_given(lab: dict[str, Any]) -> str:
    """How many labels the images actually got ("3 labels each", "3 labels on 280 images, 2 on 20")."""
    given = {int(k): v for k, v in (lab.get("labels_per_image_counts") or {}).items() if v}
    if not given:
        return f"The images got {esc(lab.get('annotations_per_image'))} labels each on average."
    if len(given) == 1:
        (n, images), = given.items()
        return f"Each of the {images} images got {plural(n, 'label', count=True)}."
    parts = [f"{plural(n, 'label', count=True)} on {plural(images, 'image', count=True)}"
             for n, images in sorted(given.items(), key=lambda kv: (-kv[1], -kv[0]))]
    return "The images got " + ", ".join(parts) + "."


def overlap_policy(overlap: dict[str, Any]) -> str:
    """The project's overlap policy when the version was frozen, in words."""
    wanted = overlap.get("labels_per_image")
    if wanted is None:
        return ""
    text = f"The project's overlap policy asks for {plural(int(wanted), 'label', count=True)} per image"
    share = float(overlap.get("qa_fraction") or 0)
    if share > 0:
        text += f", and {plural(int(overlap.get('qa_labels_per_image') or 0), 'label', count=True)} for a random " \
                f"{share:.0%} of images (quality checks)"
    return text + " (imported images keep the answers they came with)."


def _agreement(a: dict[str, Any]) -> list[str]:
    lines = ["## Agreement", ""]
    snap = a.get("snapshot")
    if snap is None:
        lines += ["No agreement figures were computed for the project before this version was frozen.", ""]
    else:
        lines += [f"Project-wide figures computed {esc(snap['computed_at'])} over {snap['n_images']} images and "
                  f"{snap['n_annotations']} answers:", ""]
        kappa = snap.get("pairwise_kappa") or {}
        scalars = [["Krippendorff's alpha (nominal)", snap["alpha"]], ["Fleiss' kappa", snap["fleiss_kappa"]],
                   ["box alpha (Krippendorff, box agreement)", snap["box_alpha"]]]
        if kappa:
            scalars.append([f"Cohen's kappa, {kappa['pairs']} labeler pairs: mean (min-max)",
                            f"{kappa['mean']:.3f} ({kappa['min']:.3f}-{kappa['max']:.3f})"])
        lines += table(["figure", "value"], scalars)
        lines += ["Class pairs most confused, project-wide (rate: how often a label of one class sits beside a "
                  "label of the other on the same image):", ""]
        lines += table(["classes", "rate", "share of all disagreement", "images"],
                       [[" / ".join(p["classes"]), p["rate"], p["share"], p["images"]]
                        for p in snap.get("class_pairs", [])])
    lines += ["### Class pairs labelers disagreed on (pairs of answers on the same image)", ""]
    lines += table(["classes", "disagreements"], [[" / ".join(p["classes"]), p["disagreements"]]
                                                  for p in a.get("class_pairs", [])])
    return lines


def _ambiguities(counts: dict[str, Any], a: dict[str, Any]) -> list[str]:
    excluded = counts.get("excluded", {})
    pairs = ", ".join(" / ".join(p["classes"]) for p in a.get("class_pairs", [])[:3]) or "none recorded"
    disputes_kept = counts.get("box_disputes_kept", 0)
    return ["## Known ambiguities", "",
            f"- {excluded.get('ambiguous', 0)} images a reviewer marked ambiguous and "
            f"{excluded.get('unresolved', 0)} with an open conflict about their class were left out.",
            f"- {excluded.get('box_disputes', 0)} images whose class was decided but whose boxes are still in dispute "
            f"were left out; {disputes_kept} such images were kept with the boxes a majority of their labelers drew.",
            f"- Classes most often confused: {esc(pairs)}.",
            f"- {counts.get('boxes_dropped', 0)} boxes were dropped (a class not chosen, or empty inside the image).",
            f"- {excluded.get('duplicate_straddle', 0)} near-duplicates were left out because their look-alikes "
            "already sit in another split.", ""]


def _uses(s: dict[str, Any]) -> list[str]:
    return ["## Uses and distribution", "",
            "Train on `train`, tune on `val`, report on `test`. The images come from the lines, cameras and "
            "shifts listed above only; expect a model to need new data for other conditions. Exported as "
            "COCO, YOLO, Pascal VOC, CSV, Label Studio JSON or ImageFolder; each archive of a version is "
            "byte-for-byte reproducible.", ""]


def _lineage(lineage: dict[str, Any]) -> list[str]:
    parent, diff = lineage.get("parent"), lineage.get("diff")
    if parent is None or diff is None:
        return ["## Maintenance and lineage", "", "The first version of this project's dataset.", ""]
    lines = ["## Maintenance and lineage", "",
             f"Follows version {parent['number']} ({esc(parent['name'])}, `{parent['content_hash']}`): "
             f"{diff['added']} images added, {diff['removed']} removed, {diff['class_changed']} changed class, "
             f"{diff['boxes_changed']} changed boxes, {diff['unchanged']} unchanged.", ""]
    lines += table(["class", "before", "after", "added", "removed", "relabeled in", "relabeled out"],
                   [[c["name"], c["before"], c["after"], c["added"], c["removed"], c["relabeled_in"],
                     c["relabeled_out"]] for c in diff.get("classes", [])])
    return lines
