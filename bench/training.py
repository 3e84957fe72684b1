"""The model loop's engine: training and retraining time, peak memory and inference rate, for the
default recipe (filterbank) and the ONNX backbone recipe, on 640x480 workload images.

Per size (default 1,000, 5,000 and 20,000 images; make_inspection_set.py, seed 3):
- training = feature extraction (decode + features, 2 workers) + 5-fold out-of-fold fits + the
  final fit, what a first run on a dataset version costs;
- retraining = the 5 folds and the final fit on cached features, what a run after a relabel costs;
- peak RSS of each step (VmHWM of a child process that does only that step; `baseline` is the same
  child after its imports), to show that extraction streams: memory does not grow with the images;
- inference = the exported ONNX model (to_onnx) run by ONNX Runtime on decoded images, 2 threads;
- the reference, measured in the same run on the same files: Pillow's plain decode rate on 2
  threads, which bounds any recipe's extraction rate.
The backbone recipe uses a small CNN the bench builds itself (4 stride-2 3x3 convolutions, 16-128
channels, 224x224 input, seeded random weights): its figures are about speed, not accuracy.

Prints one JSON object (bench/README.md format) and writes it to bench/results/training.json.
    .venv/bin/python bench/training.py [--quick] [--sizes 1000,5000,20000] [--recipes filterbank,onnx-linear]
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench._training_data import CLASSES, status_mib, workload  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"
SEED = 3
INFERENCE_IMAGES = 400


def small_backbone() -> bytes:
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)
    nodes, inits, source, channels = [], [], "x", 3
    for i, width in enumerate((16, 32, 64, 128)):
        w = (rng.normal(size=(width, channels, 3, 3)) * np.sqrt(2 / (9 * channels))).astype(np.float32)
        inits.append(numpy_helper.from_array(w, f"w{i}"))
        nodes += [helper.make_node("Conv", [source, f"w{i}"], [f"c{i}"], strides=[2, 2], pads=[1, 1, 1, 1]),
                  helper.make_node("Relu", [f"c{i}"], [f"r{i}"])]
        source, channels = f"r{i}", width
    graph = helper.make_graph(nodes, "bench_backbone",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3, 224, 224])],
                              [helper.make_tensor_value_info(source, TensorProto.FLOAT, ["N", 128, 14, 14])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model.SerializeToString()


def get(recipe_name: str, work: Path):
    from app.training.recipe import get_recipe

    backbone = (work / "backbone.onnx").read_bytes() if recipe_name == "onnx-linear" else None
    return get_recipe(recipe_name, backbone=backbone)


def child(step: str, recipe_name: str, size: int, data_dir: Path, work: Path) -> dict:
    """One measured step in this fresh process."""
    data = workload(size, SEED, data_dir)
    if step == "decode":
        from PIL import Image

        def decode(path: Path) -> int:
            with Image.open(path) as im:
                return int(np.asarray(im.convert("RGB")).shape[0])

        baseline, started = status_mib("VmRSS"), time.perf_counter()
        with ThreadPoolExecutor(2) as pool:
            for _ in pool.map(decode, data.files):
                pass
        seconds = time.perf_counter() - started
        return {"seconds": seconds, "baseline_rss_mib": baseline, "peak_rss_mib": status_mib("VmHWM")}
    from app.training.engine import train
    from app.training.extract import extract_many
    from app.training.images import decode as to_tensor
    from app.training.metrics import evaluate

    recipe = get(recipe_name, work)
    features_file = work / f"features-{recipe_name}-{size}.npy"
    baseline, started = status_mib("VmRSS"), time.perf_counter()
    out: dict = {}
    if step == "extract":
        x = extract_many(recipe, [lambda p=p: p.read_bytes() for p in data.files], workers=2)
        out["seconds"] = time.perf_counter() - started
        np.save(features_file, x)
    elif step == "train":
        trained = train(recipe, np.load(features_file), data.truth, n_classes=len(CLASSES), seed=0, groups=data.groups)
        out["seconds"] = time.perf_counter() - started
        out["oof_accuracy"] = evaluate(data.truth, trained.oof_proba, n_classes=len(CLASSES), n_boot=0).accuracy.value
        (work / f"model-{recipe_name}-{size}.bin").write_bytes(trained.model.to_bytes())
    elif step == "infer":
        from app.training.onnxgraph import session

        model = recipe.load_model((work / f"model-{recipe_name}-{size}.bin").read_bytes())
        line = session(recipe.to_onnx(model, class_names=list(CLASSES)), threads=1)
        h, w = recipe.input_height, recipe.input_width
        files = data.files[:INFERENCE_IMAGES]
        started = time.perf_counter()
        with ThreadPoolExecutor(2) as pool:
            list(pool.map(lambda p: line.run(None, {"image": to_tensor(p.read_bytes(), height=h, width=w)}), files))
        out["seconds"] = time.perf_counter() - started
        out["images"] = len(files)
    return {**out, "baseline_rss_mib": baseline, "peak_rss_mib": status_mib("VmHWM")}


def run_child(step: str, recipe_name: str, size: int, data_dir: Path, work: Path) -> dict:
    command = [sys.executable, __file__, "--child", step, "--recipes", recipe_name, "--sizes", str(size),
               "--data-dir", str(data_dir), "--work", str(work)]
    done = subprocess.run(command, capture_output=True, text=True, check=False, cwd=REPO)
    if done.returncode != 0:
        raise SystemExit(f"{step} {recipe_name} {size}: {done.stderr.strip()[-1500:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def figures_for(size: int, recipe_name: str, decode: dict, data_dir: Path, work: Path) -> list[dict]:
    extract = run_child("extract", recipe_name, size, data_dir, work)
    fit = run_child("train", recipe_name, size, data_dir, work)
    infer = run_child("infer", recipe_name, size, data_dir, work)
    label = f"{size:,} images 640x480"
    decode_rate = size / decode["seconds"]
    reference = {"name": "Pillow decode of the same files, 2 threads", "value": round(decode_rate, 1),
                 "unit": "images/s"}
    decode_ref_s = {**reference, "value": round(decode["seconds"], 2), "unit": "s"}

    def fig(name: str, value: float, unit: str, ref: dict | None = None, **extra: object) -> dict:
        return {"name": f"{name}, {recipe_name}", "value": round(value, 3), "unit": unit, "size": label,
                "database": None, "reference": ref, **extra}

    out = [
        fig("training (decode + features + 5 folds + final fit)", extract["seconds"] + fit["seconds"], "s",
            decode_ref_s, extraction_s=round(extract["seconds"], 2), fits_s=round(fit["seconds"], 2)),
        fig("retraining on cached features (5 folds + final fit)", fit["seconds"], "s"),
        fig("feature extraction rate (2 workers)", size / extract["seconds"], "images/s", reference),
        fig("extraction peak RSS", extract["peak_rss_mib"], "MiB", None,
            baseline_rss_mib=round(extract["baseline_rss_mib"], 1)),
        fig("retraining peak RSS", fit["peak_rss_mib"], "MiB", None,
            baseline_rss_mib=round(fit["baseline_rss_mib"], 1)),
        fig("inference, exported ONNX model (decode + run, 2 threads)", infer["images"] / infer["seconds"],
            "images/s", reference),
    ]
    if recipe_name == "filterbank":
        out.append(fig("out-of-fold accuracy against the truth", fit["oof_accuracy"], "fraction"))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="300 images: a smoke test")
    parser.add_argument("--sizes", default="1000,5000,20000")
    parser.add_argument("--recipes", default="filterbank,onnx-linear")
    parser.add_argument("--data-dir", type=Path, default=REPO / "var" / "bench")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--work", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    sizes = [300] if args.quick else [int(s) for s in args.sizes.split(",")]
    recipe_names = args.recipes.split(",")
    if args.child:
        print(json.dumps(child(args.child, recipe_names[0], sizes[0], args.data_dir, args.work)))
        return
    figures: list[dict] = []
    with tempfile.TemporaryDirectory(prefix="concord-bench-training-") as tmp:
        work = Path(tmp)
        (work / "backbone.onnx").write_bytes(small_backbone())
        for size in sizes:
            workload(size, SEED, args.data_dir)  # render outside the measured steps
            decode = run_child("decode", recipe_names[0], size, args.data_dir, work)
            for name in recipe_names:
                print(f"  {name}, {size:,} images", file=sys.stderr, flush=True)
                figures += figures_for(size, name, decode, args.data_dir, work)
    result = {"bench": "training", "figures": figures,
              "environment": {"python": platform.python_version(), "cpus": os.cpu_count(),
                              "load_average_at_end": os.getloadavg()}}
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "training.json").write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
