"""Summarise a py-spy raw (collapsed stacks) profile: the functions with the most samples, by self time
and by inclusive time.  .venv/bin/python bench/_profile.py PROFILE.txt [--top 25] [--match TEXT]"""
from __future__ import annotations

import argparse
import re
from collections import Counter
from pathlib import Path

FRAME = re.compile(r"^(?P<name>.*?) \((?P<file>[^()]*?)(?::\d+)?\)$")


def frames(stack: str) -> list[str]:
    out = []
    for part in stack.split(";"):
        match = FRAME.match(part.strip())
        if match is None:
            continue
        path = match["file"]
        short = "/".join(path.split("/")[-2:]) if "/" in path else path
        out.append(f"{match['name']} ({short})")
    return out


def summarise(path: Path, top: int, match: str | None) -> str:
    self_time, inclusive, total = Counter(), Counter(), 0
    for line in path.read_text(errors="replace").splitlines():
        stack, _, count = line.rpartition(" ")
        if not count.isdigit():
            continue
        if match and match not in stack:
            continue
        n = int(count)
        total += n
        names = frames(stack)
        if names:
            self_time[names[-1]] += n
        for name in set(names):
            inclusive[name] += n
    rows = [f"{total:,} samples{f' matching {match!r}' if match else ''}", "", "self %  function"]
    rows += [f"{100 * n / total:5.1f}  {name}" for name, n in self_time.most_common(top)]
    rows += ["", "incl %  function"]
    rows += [f"{100 * n / total:5.1f}  {name}" for name, n in inclusive.most_common(top)]
    return "\n".join(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("profile", type=Path)
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--match")
    args = parser.parse_args()
    print(summarise(args.profile, args.top, args.match))


if __name__ == "__main__":
    main()
