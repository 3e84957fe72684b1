"""`make bench`: run every benchmark in bench/, collect their figures, write latest.json and the table.

Each bench/<name>.py prints one JSON object {"bench": name, "figures": [...]} (see bench/README.md);
this runner adds the machine and the time, writes bench/results/latest.json, and rewrites the table
between the markers in bench/README.md.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
README = HERE / "README.md"
START, END = "<!-- bench-table:start -->", "<!-- bench-table:end -->"
ORDER = ["ingest", "labeling", "consistency", "export", "scale"]  # the rest follow alphabetically


PEERS = HERE / "peers" / "labelstudio.py"  # Label Studio side by side; skips itself unless installed


def scripts() -> list[Path]:
    found = {p.stem: p for p in HERE.glob("*.py") if p.stem not in {"run_all", "soak", "training_designs"}
             and not p.stem.startswith("_")}
    if PEERS.exists():
        found["peers"] = PEERS
    return [found[n] for n in ORDER if n in found] + [found[n] for n in sorted(found) if n not in ORDER]


def name_of(script: Path) -> str:
    return "peers" if script == PEERS else script.stem


def run(script: Path, quick: bool, timeout: float) -> dict[str, object]:
    started = time.monotonic()
    command = [sys.executable, str(script), *(["--quick"] if quick else [])]
    print(f"» {script.name}", file=sys.stderr, flush=True)
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, cwd=HERE.parent, check=False)
    except subprocess.TimeoutExpired:
        return {"bench": name_of(script), "error": f"timed out after {timeout:.0f} s", "figures": []}
    seconds = round(time.monotonic() - started, 1)
    if done.returncode != 0:
        return {"bench": name_of(script), "error": done.stderr.strip()[-2000:], "figures": [], "seconds": seconds}
    try:
        result = json.loads(done.stdout.strip().splitlines()[-1] if done.stdout.strip() else "{}")
    except json.JSONDecodeError:
        result = json.loads(done.stdout)
    result["seconds"] = seconds
    return result


def table(results: list[dict[str, object]]) -> str:
    rows = ["| bench | figure | value | unit | size | database | reference |", "|---|---|---|---|---|---|---|"]
    for result in results:
        if result.get("error"):
            rows.append(f"| {result['bench']} | **failed** | | | | | {str(result['error']).splitlines()[-1][:80]} |")
        for f in result.get("figures", []):  # type: ignore[union-attr]
            ref = f.get("reference") or {}
            ref_text = f"{ref.get('name')}: {_fmt(ref.get('value'))} {ref.get('unit', '')}".strip() if ref else ""
            for key, shown in (("ratio", "x of it"), ("of_ceiling", "of it")):  # the figure / the reference
                if f.get(key) is not None:
                    ref_text += f" ({_fmt(f[key])} {shown})"
            rows.append(f"| {result['bench']} | {f['name']} | {_fmt(f['value'])} | {f.get('unit', '')} | "
                        f"{f.get('size', '')} | {f.get('database') or ''} | {ref_text} |")
    return "\n".join(rows)


def _fmt(value: object) -> str:
    if isinstance(value, float):
        return f"{value:,.3g}" if abs(value) < 100 else f"{value:,.0f}"
    return str(value)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small sizes: a smoke test of the benchmarks")
    parser.add_argument("--only", nargs="*", help="run only these benchmarks (names without .py)")
    parser.add_argument("--timeout", type=float, default=900, help="seconds allowed per benchmark")
    args = parser.parse_args()
    RESULTS.mkdir(exist_ok=True)
    chosen = [s for s in scripts() if not args.only or name_of(s) in args.only]
    started = time.monotonic()
    results = [run(s, args.quick, args.timeout) for s in chosen]
    summary = {
        "generated_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": "make bench" + (" (quick)" if args.quick else ""),
        "total_seconds": round(time.monotonic() - started, 1),
        "machine": {"python": platform.python_version(), "platform": platform.platform(), "cpus": os.cpu_count()},
        "results": results,
    }
    (RESULTS / "latest.json").write_text(json.dumps(summary, indent=2) + "\n")
    if README.exists() and START in README.read_text():
        text = README.read_text()
        head, rest = text.split(START, 1)
        tail = rest.split(END, 1)[1]
        stamp = (f"\n_Generated {summary['generated_at']} by `{summary['command']}` "
                 f"in {summary['total_seconds']} s._\n\n")
        README.write_text(head + START + stamp + table(results) + "\n" + END + tail)
    print(table(results))
    return 1 if any(r.get("error") for r in results) else 0


if __name__ == "__main__":
    raise SystemExit(main())
