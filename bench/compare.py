"""Compare the RESULT lines of two benchmark runs, figure by figure.

    make bench-quick 2>&1 | tee before.txt    # ... change something ...
    make bench-quick 2>&1 | tee after.txt
    .venv/bin/python bench/compare.py before.txt after.txt [--bench flow] [--grep p99]

Prints, for each (bench, metric) in either file: the value before, after, and after/before.
Whether higher is better depends on the unit (events/s: yes; ms: no); nothing is judged.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def results(path: Path) -> dict[tuple[str, str], tuple[float | None, str]]:
    out = {}
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        if line.startswith("RESULT "):
            doc = json.loads(line.removeprefix("RESULT "))
            out[(doc["bench"], doc["metric"])] = (doc["value"], doc["unit"])
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("before", type=Path)
    parser.add_argument("after", type=Path)
    parser.add_argument("--bench", help="only this benchmark")
    parser.add_argument("--grep", default="", help="only metrics containing this text")
    args = parser.parse_args()
    a, b = results(args.before), results(args.after)
    print(f"| bench | metric | unit | {args.before.name} | {args.after.name} | after/before |")
    print("| --- | --- | --- | ---: | ---: | ---: |")
    for key in sorted(a.keys() | b.keys()):
        if (args.bench and key[0] != args.bench) or args.grep not in key[1]:
            continue
        va, unit = a.get(key, (None, ""))
        vb, unit = b.get(key, (None, unit))
        ratio = f"{vb / va:.2f}" if va and vb is not None else ""
        print(f"| {key[0]} | {key[1]} | {unit} | {va} | {vb} | {ratio} |")


if __name__ == "__main__":
    main()
