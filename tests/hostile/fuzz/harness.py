"""What every harness shares: seeds written to the corpus directory, then atheris until its limits."""
from __future__ import annotations

import contextlib
import sys
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path

import atheris


def run(test_one_input: Callable[[bytes], None], seeds: Sequence[bytes], argv: list[str] | None = None) -> None:
    """libFuzzer flags come from `argv`; the first directory named in it (a fresh one if none is) gets the
    seed inputs and collects what the run finds. Exits as libFuzzer does: 0 when nothing crashed."""
    args = list(sys.argv if argv is None else argv)
    corpus = next((a for a in args[1:] if not a.startswith("-")), None)
    if corpus is None:
        corpus = tempfile.mkdtemp(prefix="fuzz-corpus-")
        args.append(corpus)
    Path(corpus).mkdir(parents=True, exist_ok=True)
    for n, seed in enumerate(seeds):
        (Path(corpus) / f"seed-{n:03d}").write_bytes(seed)
    atheris.Setup(args, test_one_input)
    atheris.Fuzz()


def json_file_input(load: Callable[[Path], object], keys: Sequence[str], seeds: Sequence[bytes],
                    ) -> Callable[[bytes], None]:
    """A test_one_input for an importer that reads a JSON file: only Invalid may escape `load`."""
    from app.core.errors import Invalid

    path = Path(tempfile.mkdtemp(prefix="fuzz-")) / "import.json"

    def test_one_input(data: bytes) -> None:
        path.write_bytes(json_input(data, keys, seeds))
        with contextlib.suppress(Invalid):
            load(path)

    return test_one_input


def json_seeds(*documents: object) -> list[bytes]:
    import json

    return [json.dumps(d).encode() for d in documents]


def json_value(fdp: atheris.FuzzedDataProvider, keys: Sequence[str], depth: int = 0) -> object:
    """A JSON-like value shaped by the fuzzer: objects keyed mostly by the format's own field names, so
    mutations reach deep into the parser rather than stopping at the JSON syntax."""
    kind = fdp.ConsumeIntInRange(0, 9 if depth < 8 else 5)
    if kind == 0:
        return None
    if kind == 1:
        return fdp.ConsumeBool()
    if kind == 2:
        return fdp.PickValueInList([0, 1, -1, 2**31, 2**63, 10**400, -(10**400)]) + fdp.ConsumeIntInRange(-3, 3)
    if kind == 3:
        return fdp.PickValueInList([0.5, -0.5, 1e308, -1e308, 5e-324, float("nan"), float("inf"), -float("inf"),
                                    fdp.ConsumeFloat()])
    if kind == 4:
        return fdp.ConsumeUnicodeNoSurrogates(fdp.ConsumeIntInRange(0, 12))
    if kind == 5:
        return fdp.PickValueInList(list(keys))
    if kind in (6, 7):
        return [json_value(fdp, keys, depth + 1) for _ in range(fdp.ConsumeIntInRange(0, 4))]
    out: dict[str, object] = {}
    for _ in range(fdp.ConsumeIntInRange(0, 6)):
        key = fdp.PickValueInList(list(keys)) if fdp.ConsumeBool() else fdp.ConsumeUnicodeNoSurrogates(4)
        out[key] = json_value(fdp, keys, depth + 1)
    return out


def json_input(data: bytes, keys: Sequence[str], seeds: Sequence[bytes] = ()) -> bytes:
    """A third of the inputs as they come (raw bytes: the JSON reader's own errors, nesting, numbers), a
    third as a document built by `json_value`, a third as a seed document with values replaced deep inside."""
    import json

    if not data or data[0] % 3 == 0:
        return data
    fdp = atheris.FuzzedDataProvider(data[1:])
    if data[0] % 3 == 1 or not seeds:
        return json.dumps(json_value(fdp, keys)).encode()
    document = json.loads(fdp.PickValueInList(list(seeds)))
    for _ in range(fdp.ConsumeIntInRange(1, 3)):
        document = _replace_inside(document, fdp, keys)
    return json.dumps(document).encode()


def _replace_inside(value: object, fdp: atheris.FuzzedDataProvider, keys: Sequence[str]) -> object:
    """`value` with one value somewhere inside it (or itself) replaced by a fuzzed one."""
    children = list(value) if isinstance(value, dict) else list(range(len(value))) if isinstance(value, list) else []
    if not children or fdp.ConsumeIntInRange(0, 3) == 0:
        return json_value(fdp, keys)
    at = fdp.PickValueInList(children)
    value[at] = _replace_inside(value[at], fdp, keys)  # type: ignore[index]
    return value
