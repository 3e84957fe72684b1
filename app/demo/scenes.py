"""Synthetic inspection shots for the demo: a moulded part on a conveyor with surface defects.

Pure rendering (numpy + Pillow): a scene is planned from a seeded generator, then drawn; the true
class and tight boxes come with it, so the demo's simulated labelers have something to be right
or wrong about.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

WIDTH, HEIGHT = 640, 480
CLASSES = ("ok", "scratch", "dent", "pit", "discoloration")
DEFECTS = CLASSES[1:]
SEVERITY = {"dent": 4, "scratch": 3, "discoloration": 2, "pit": 1}  # the image class is the worst defect
CLASS_FREQ = {"ok": 0.5, "scratch": 0.2, "dent": 0.13, "pit": 0.1, "discoloration": 0.07}


@dataclass
class Defect:
    kind: str
    box: tuple[float, float, float, float]  # x, y, w, h in pixels
    params: dict[str, float] = field(default_factory=dict)


@dataclass
class Scene:
    index: int
    part: tuple[float, float, float, float]  # x, y, w, h of the part
    defects: list[Defect]
    meta: dict[str, str]
    brightness: float = 1.0
    noise_seed: int = 0
    texture_seed: int = 0  # the part's own moulding marks: shared by near-duplicates of one part

    @property
    def true_class(self) -> str:
        if not self.defects:
            return "ok"
        return max(self.defects, key=lambda d: SEVERITY[d.kind]).kind


def plan_scene(rng: np.random.Generator, index: int, image_class: str) -> Scene:
    w, h = rng.uniform(330, 390), rng.uniform(250, 300)
    x, y = (WIDTH - w) / 2 + rng.uniform(-50, 50), (HEIGHT - h) / 2 + rng.uniform(-40, 40)
    line = str(rng.choice(["L1", "L2", "L3"], p=[0.4, 0.35, 0.25]))
    shift = str(rng.choice(["day", "night"], p=[0.6, 0.4]))
    meta = {"line": line, "camera": str(rng.choice(["cam-a", "cam-b"])), "shift": shift,
            "batch": f"B{1 + index // 50:02d}"}
    drifted = line == "L3" and shift == "night" and rng.random() < 0.7
    # A failing lamp on line 3's night shift darkens most of its images; nothing in the metadata says so.
    defects: list[Defect] = []
    if image_class != "ok":
        defects.append(_plan_defect(rng, image_class, (x, y, w, h)))
        for _ in range(int(rng.choice([0, 0, 1, 2]))):
            weaker = [k for k in DEFECTS if SEVERITY[k] <= SEVERITY[image_class]]
            defects.append(_plan_defect(rng, str(rng.choice(weaker)), (x, y, w, h)))
    return Scene(index=index, part=(x, y, w, h), defects=defects, meta=meta,
                 brightness=0.6 if drifted else float(rng.uniform(0.92, 1.08)), noise_seed=int(rng.integers(1 << 31)),
                 texture_seed=int(rng.integers(1 << 31)))


def _plan_defect(rng: np.random.Generator, kind: str, part: tuple[float, float, float, float]) -> Defect:
    px, py, pw, ph = part
    size = {"scratch": rng.uniform(45, 140), "dent": rng.uniform(40, 75), "pit": rng.uniform(4, 7),
            "discoloration": rng.uniform(45, 85)}[kind]
    cx = rng.uniform(px + 0.15 * pw, px + 0.85 * pw)
    cy = rng.uniform(py + 0.2 * ph, py + 0.85 * ph)
    if kind == "scratch":
        angle = rng.uniform(0, np.pi)
        dx, dy = np.cos(angle) * size / 2, np.sin(angle) * size / 2
        x0, x1 = sorted((cx - dx, cx + dx))
        y0, y1 = sorted((cy - dy, cy + dy))
        box = (x0 - 2, y0 - 2, x1 - x0 + 4, y1 - y0 + 4)
        return Defect(kind, box, {"x0": cx - dx, "y0": cy - dy, "x1": cx + dx, "y1": cy + dy,
                                  "bright": float(rng.random() < 0.6)})
    return Defect(kind, (cx - size / 2, cy - size / 2, size, size), {"tint": float(rng.integers(4))})


@lru_cache(maxsize=1)
def _conveyor() -> Image.Image:
    yy, xx = np.mgrid[0:HEIGHT, 0:WIDTH].astype(np.float32)
    background = 38 + 14 * (xx / WIDTH) + 6 * np.sin(yy / 9.0)  # belt with ribs
    return Image.fromarray(np.clip(background, 0, 255).astype(np.uint8)).convert("RGB")


def render(scene: Scene) -> Image.Image:
    rng = np.random.default_rng(scene.noise_seed)
    canvas = _conveyor().copy()
    draw = ImageDraw.Draw(canvas)
    x, y, w, h = scene.part
    draw.rounded_rectangle((x + 6, y + 8, x + w + 6, y + h + 8), radius=38, fill=(22, 22, 24))  # shadow
    draw.rounded_rectangle((x, y, x + w, y + h), radius=38, fill=(196, 198, 202), outline=(170, 172, 176), width=5)
    draw.rounded_rectangle((x + 22, y + 20, x + 92, y + 78), radius=16, fill=(70, 72, 78))  # camera cut-out
    _mottle(canvas, scene)
    for defect in scene.defects:
        _draw_defect(canvas, defect)
    pixels = np.asarray(canvas, dtype=np.float32) * scene.brightness
    sigma = 2.5 if scene.meta.get("shift") == "day" else 3.5
    pixels += rng.standard_normal((HEIGHT, WIDTH, 1), dtype=np.float32) * sigma  # sensor noise, grey
    return Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8))


def _mottle(canvas: Image.Image, scene: Scene) -> None:
    """Soft light and dark patches of the moulding, different on every part (so parts differ)."""
    x, y, w, h = (round(v) for v in scene.part)
    grid = np.random.default_rng(scene.texture_seed).normal(0, 1, (5, 7))
    field = np.asarray(Image.fromarray(grid.astype(np.float32)).resize((w, h), Image.Resampling.BICUBIC))
    mask = Image.new("L", (w, h), 0)
    ImageDraw.Draw(mask).rounded_rectangle((4, 4, w - 5, h - 5), radius=34, fill=255)
    region = np.asarray(canvas.crop((x, y, x + w, y + h)), dtype=np.float32)
    region += (field * 6.0 * (np.asarray(mask, dtype=np.float32) / 255))[..., None]
    canvas.paste(Image.fromarray(np.clip(region, 0, 255).astype(np.uint8)), (x, y))


def _draw_defect(canvas: Image.Image, defect: Defect) -> None:
    """Draw on a small padded layer around the defect only (blurring the whole frame is slow)."""
    pad = 16
    x, y, w, h = defect.box
    left, top = int(x) - pad, int(y) - pad
    layer = Image.new("RGBA", (int(w) + 2 * pad + 2, int(h) + 2 * pad + 2), (0, 0, 0, 0))
    draw = ImageDraw.Draw(layer)
    x, y = x - left, y - top
    p = defect.params
    if defect.kind == "scratch":
        colour = (245, 245, 248, 230) if p["bright"] else (95, 95, 100, 230)
        draw.line((p["x0"] - left, p["y0"] - top, p["x1"] - left, p["y1"] - top), fill=colour, width=2)
        layer = layer.filter(ImageFilter.GaussianBlur(0.5))
    elif defect.kind == "dent":
        draw.ellipse((x, y, x + w, y + h), fill=(120, 122, 128, 120))
        draw.arc((x, y, x + w, y + h), 200, 340, fill=(250, 250, 252, 200), width=4)
        draw.arc((x, y, x + w, y + h), 20, 160, fill=(80, 80, 86, 200), width=4)
        layer = layer.filter(ImageFilter.GaussianBlur(3))
    elif defect.kind == "pit":
        draw.ellipse((x + 1, y + 1, x + w - 1, y + h - 1), fill=(45, 45, 50, 255))
    else:
        tints = [(200, 170, 60), (150, 100, 50), (110, 140, 200), (210, 140, 160)]
        r, g, b = tints[int(p["tint"]) % len(tints)]
        draw.ellipse((x + 6, y + 6, x + w - 6, y + h - 6), fill=(r, g, b, 110))
        layer = layer.filter(ImageFilter.GaussianBlur(6))
    canvas.paste(layer, (left, top), layer)


def plan_dataset(n_images: int, seed: int = 7, dup_groups: int = 4, dup_size: int = 4) -> list[Scene]:
    """`n_images` scenes with exact class frequencies and a few near-duplicate groups."""
    rng = np.random.default_rng(seed)
    counts = {c: round(f * n_images) for c, f in CLASS_FREQ.items()}
    counts["ok"] += n_images - sum(counts.values())
    classes = [c for c, k in counts.items() for _ in range(k)]
    rng.shuffle(classes)
    scenes = [plan_scene(rng, i, c) for i, c in enumerate(classes)]
    taken: set[int] = set()
    # Look-alike groups on defective parts, the first on a pit: the pair inspectors confuse most.
    for wanted in ["pit", "dent", "scratch", "discoloration"][:dup_groups]:
        fits = [i for i in range(n_images - dup_size) if scenes[i].true_class == wanted
                and not taken.intersection(range(i, i + dup_size))]
        if not fits:
            continue
        start = int(rng.choice(fits))
        source = scenes[start]
        source.brightness = 1.0
        for k in range(1, dup_size):
            scenes[start + k] = _near_duplicate(source, rng, start + k)
        taken.update(range(start, start + dup_size))
    return scenes


def _near_duplicate(source: Scene, rng: np.random.Generator, index: int) -> Scene:
    dx, dy = rng.uniform(-2, 2, size=2)
    moved = [Defect(d.kind, (d.box[0] + dx, d.box[1] + dy, d.box[2], d.box[3]),
                    {k: (v + dx if k in ("x0", "x1") else v + dy if k in ("y0", "y1") else v)
                     for k, v in d.params.items()}) for d in source.defects]
    x, y, w, h = source.part
    return Scene(index=index, part=(x + dx, y + dy, w, h), defects=moved, meta=dict(source.meta),
                 brightness=float(rng.uniform(0.985, 1.015)), noise_seed=int(rng.integers(1 << 31)),
                 texture_seed=source.texture_seed)
