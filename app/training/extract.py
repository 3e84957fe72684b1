"""Features of many images, on every core, in input order, with flat memory."""
from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Sequence, Sized
from concurrent.futures import Future, ThreadPoolExecutor

import numpy as np

from app.training.cancel import Cancelled, check
from app.training.recipe import Recipe

Progress = Callable[[float, str], None]


def extract_many(recipe: Recipe, images: Iterable[bytes] | Sequence[Callable[[], bytes]], *, workers: int = 2,
                 progress: Progress | None = None, should_stop: Callable[[], bool] | None = None) -> np.ndarray:
    """(n, d) float32 features, row i from image i, the same bytes whatever `workers` is.

    `images` yields encoded images, or is a sequence of callables that each read one (so reading
    from storage happens on the worker threads too). Threads suffice: decoding (Pillow) and the
    graph (ONNX Runtime, one thread per run) release the GIL. At most 2 x workers images are held
    at once; only the feature rows accumulate. Raises `Cancelled` (after the images in flight) once
    `should_stop()` is true, and ValueError naming the first image that is not one.
    """
    if workers < 1:
        raise ValueError("workers must be at least 1")
    total = len(images) if isinstance(images, Sized) else None
    rows: list[np.ndarray] = []
    pending: deque[Future[np.ndarray]] = deque()
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="extract") as pool:
        try:
            for item in images:
                check(should_stop)
                pending.append(pool.submit(_one, recipe, item, len(rows) + len(pending)))
                if len(pending) >= 2 * workers:
                    rows.append(pending.popleft().result())
                    _report(progress, len(rows), total)
            while pending:
                rows.append(pending.popleft().result())
                _report(progress, len(rows), total)
        except BaseException:
            for future in pending:
                future.cancel()
            raise
    if not rows:
        return np.zeros((0, int(getattr(recipe, "dimension", 0))), dtype=np.float32)
    return np.stack(rows).astype(np.float32, copy=False)


def _one(recipe: Recipe, item: bytes | Callable[[], bytes], index: int) -> np.ndarray:
    data = item() if callable(item) else item
    try:
        return recipe.extract(data)
    except ValueError as exc:
        raise ValueError(f"image {index}: {exc}") from exc


def _report(progress: Progress | None, done: int, total: int | None) -> None:
    if progress is None or (done % 25 and done != total):
        return
    if total:
        progress(done / total, f"features of {done:,} of {total:,} images")
    else:
        progress(0.0, f"features of {done:,} images")


__all__ = ["Cancelled", "extract_many"]
