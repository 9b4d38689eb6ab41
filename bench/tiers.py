"""Two benchmark runs side by side, as a markdown table: each figure at both sizes and how it grew.

    .venv/bin/python bench/tiers.py bench/results/10k.json bench/results/100k.json

For each figure of the first run that the second has too: both values, the growth factor (second /
first), and each run's ratio to its baseline and PASS / MISS. Figures whose names carry the data
set's size ("generate 10,000 x 365", "CSV download of 3,606,073 rows") are matched by section and
position instead.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.report import fmt

_SIZED = re.compile(r"[\d,]{4,}( x \d+)?")


def _key(figure: dict) -> tuple[str, str]:
    return figure["section"], _SIZED.sub("N", figure["name"])


def _ratio(figure: dict) -> str:
    return f"{figure['ratio']:.2f}x" if figure.get("ratio") is not None else ""


def _target(figure: dict) -> str:
    if figure.get("target") is None:
        return ""
    sign = "<=" if figure["target_kind"] == "max" else ">="
    return f"{sign} {figure['target']:g}{'x' if figure['target_on'] == 'ratio' else ''}"


def table(first: dict, second: dict) -> str:
    seconds = {_key(f): f for f in second["figures"]}
    sizes = [
        f"{run['meta']['data']['bench_accounts']:,} accounts ({run['meta']['data']['snapshots']:,} snapshots)"
        for run in (first, second)
    ]
    lines = [
        f"| section | figure | {sizes[0]} | {sizes[1]} | growth | x baseline | target | result |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for figure in first["figures"]:
        other = seconds.get(_key(figure))
        if other is None:
            continue
        growth = ""
        if figure["value"] and other["value"] is not None:
            growth = f"{other['value'] / figure['value']:.2f}x"
        target = _target(figure)
        if other.get("target") != figure.get("target"):
            target = f"{target} / {_target(other)}"
        lines.append(
            f"| {figure['section']} | {_key(figure)[1]} | {fmt(figure['value'], figure['unit'])} "
            f"| {fmt(other['value'], other['unit'])} | {growth} | {_ratio(figure)} / {_ratio(other)} "
            f"| {target} | {figure['result'] or ''} / {other['result'] or ''} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("first", type=Path, help="The smaller run's JSON (bench/run.py --json).")
    parser.add_argument("second", type=Path, help="The larger run's JSON.")
    args = parser.parse_args(argv)
    print(table(json.loads(args.first.read_text()), json.loads(args.second.read_text())))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
