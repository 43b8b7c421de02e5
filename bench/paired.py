"""Per-round ratios from compare.py's markdown tables (its "raw req/s" column is in round order).

    python bench/paired.py RESULTS.md A/B [C/D ...]

For each table in the file holding both servers, prints the median over rounds of
A's req/s divided by B's in the same round, and the per-round values.  On a shared,
noisy machine a paired ratio moves less than the ratio of two medians: a burst of
load from elsewhere hits the servers measured next to each other alike.
"""

from __future__ import annotations

import re
import statistics
import sys


def tables(text: str) -> list[tuple[str, dict[str, list[float]]]]:
    out: list[tuple[str, dict[str, list[float]]]] = []
    title = ""
    for line in text.splitlines():
        if line.startswith("## "):
            title = line[3:].strip()
        elif line.startswith("| server |"):
            out.append((title, {}))
        elif out and line.startswith("| ") and not line.startswith("|---"):
            cells = [c.strip() for c in line.strip("|").split("|")]
            if len(cells) >= 8 and re.fullmatch(r"[\d., ]+", cells[-1]):
                out[-1][1][cells[0]] = [float(x) for x in cells[-1].split(",")]
    return out


def main() -> None:
    text = open(sys.argv[1]).read()
    pairs = [p.split("/", 1) for p in sys.argv[2:]]
    for title, raw in tables(text):
        rows = [(a, b) for a, b in pairs if a in raw and b in raw]
        if not rows:
            continue
        print(f"\n{title}\n\n| ratio (paired per round) | median | rounds |\n|---|---:|---|")
        for a, b in rows:
            r = [x / y for x, y in zip(raw[a], raw[b], strict=True)]
            print(f"| {a} / {b} | {statistics.median(r):.3f} | {', '.join(f'{x:.2f}' for x in r)} |")


if __name__ == "__main__":
    main()
