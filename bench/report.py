"""What a run reports: its figures and baselines, printed as a table and written as JSON.

Every figure is compared with a baseline measured in the same run (its ratio) and, where the
issue sets one, with its target (PASS / MISS).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path


@dataclass
class Figure:
    section: str
    name: str
    value: float | None
    unit: str
    #: Key of the baseline in `Bench.baselines` this figure is compared with.
    baseline: str = ""
    ratio: float | None = None
    target: float | None = None
    #: "max": value (or ratio) must be at most the target; "min": at least.
    target_kind: str = "min"
    target_on: str = "value"
    peak_mb: float | None = None
    detail: str = ""

    @property
    def result(self) -> str:
        if self.target is None:
            return ""
        observed = self.ratio if self.target_on == "ratio" else self.value
        if observed is None:
            return "n/a"
        ok = observed <= self.target if self.target_kind == "max" else observed >= self.target
        return "PASS" if ok else "MISS"


@dataclass
class Baseline:
    name: str
    value: float | None
    unit: str
    detail: str = ""


def fmt(value: float | None, unit: str) -> str:
    if value is None:
        return "n/a"
    if unit == "ms":
        return f"{value:.2f} ms" if value < 10 else f"{value:.1f} ms"
    if unit == "MB":
        return f"{value:.1f} MB"
    if unit in ("", "reads"):
        return f"{value:,.0f}" + (f" {unit}" if unit else "")
    return f"{value:,.0f} {unit}"


def fill_ratios(figures: list[Figure], baselines: dict[str, Baseline]) -> None:
    """Each figure's ratio to its baseline, unless the section set one of its own."""
    for figure in figures:
        base = baselines.get(figure.baseline)
        if figure.ratio is None and base is not None and base.value and figure.value is not None:
            figure.ratio = figure.value / base.value


def print_table(
    meta: dict, *, figures: list[Figure], baselines: dict[str, Baseline], sections: dict[str, dict]
) -> None:
    d = meta["data"]
    print()
    print(
        f"socialmetrics benchmark, {meta['started_at']}: {meta['database']} + {meta['cache']}, "
        f"{meta['cpus']} CPUs, Python {meta['python']}, Django {meta['django']}, git {meta['git'] or '?'}"
    )
    load = meta["load_average"]
    print(f"load average (1, 5, 15 min): {load['start']} at the start, {load['end']} at the end")
    print(
        f"data: {d.get('bench_accounts', 0):,} bench accounts, {d.get('snapshots', 0):,} snapshots "
        f"({d.get('first_date')} .. {d.get('last_date')}); "
        f"load generator: {meta['load_generator'] or '-'}"
        + (f"; VACUUM (ANALYZE) first: {d['vacuum_seconds']} s" if "vacuum_seconds" in d else "")
    )
    if "snapshots_at_the_end" in d:
        print(
            f"WARNING: the table held {d['snapshots']:,} snapshots at the start and "
            f"{d['snapshots_at_the_end']:,} at the end: another process wrote to this database "
            "during the run, so these figures are not of the data set named above."
        )
    for key, base in baselines.items():
        print(
            f"baseline {key}: {base.name} = {fmt(base.value, base.unit)}"
            + (f" ({base.detail})" if base.detail else "")
        )
    header = ("section", "figure", "value", "x baseline", "target", "result", "peak RSS", "detail")
    rows = []
    for f in figures:
        if f.ratio is None:
            ratio = "n/a" if f.baseline else ""
        else:
            ratio = f"{f.ratio:.2f}x" if f.ratio < 10 else f"{f.ratio:.0f}x"
        target = ""
        if f.target is not None:
            sign = "<=" if f.target_kind == "max" else ">="
            target = f"{sign} {fmt(f.target, f.unit)}"
            if f.target_on == "ratio":
                of = {"copy": "COPY", "minimal": "minimal", "bare": "bare"}.get(f.baseline.split("_")[0], "")
                target = f"{sign} {f.target}x {of}".rstrip()
        rows.append(
            (
                f.section,
                f.name,
                fmt(f.value, f.unit),
                ratio,
                target,
                f.result,
                fmt(f.peak_mb, "MB") if f.peak_mb else "",
                f.detail,
            )
        )
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header) - 1)]
    print()
    print("  ".join(h.ljust(w) for h, w in zip(header, widths, strict=False)) + "  " + header[-1])
    print("  ".join("-" * w for w in widths) + "  " + "-" * 6)
    for row in rows:
        print("  ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=False)) + "  " + row[-1])
    for name, entry in sections.items():
        if entry.get("error"):
            print(f"{name}: ERROR {entry['error']}")
    misses = [f"{f.section}/{f.name}" for f in figures if f.result == "MISS"]
    passes = sum(1 for f in figures if f.result == "PASS")
    print(f"\ntargets: {passes} PASS, {len(misses)} MISS" + (f" ({'; '.join(misses)})" if misses else ""))


def write_json(
    path: Path,
    meta: dict,
    *,
    figures: list[Figure],
    baselines: dict[str, Baseline],
    sections: dict[str, dict],
) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    document = {
        "meta": meta,
        "baselines": {k: asdict(v) for k, v in baselines.items()},
        "figures": [{**asdict(f), "result": f.result} for f in figures],
        "sections": sections,
    }
    path.write_text(json.dumps(document, indent=2, default=str) + "\n")
