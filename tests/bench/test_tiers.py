"""bench/tiers.py: two runs side by side, figures matched by name, sized names matched too."""

from bench.tiers import table


def run(accounts: int, snapshots: int, summary_ms: float, download: float) -> dict:
    return {
        "meta": {"data": {"bench_accounts": accounts, "snapshots": snapshots}},
        "figures": [
            {
                "section": "endpoints",
                "name": "summary: uncached p50",
                "value": summary_ms,
                "unit": "ms",
                "ratio": None,
                "target": 25 * accounts / 10_000,
                "target_kind": "max",
                "target_on": "value",
                "result": "PASS" if summary_ms <= 25 * accounts / 10_000 else "MISS",
            },
            {
                "section": "export",
                "name": f"CSV download of {snapshots:,} rows (in-process)",
                "value": download,
                "unit": "rows/s",
                "ratio": 1.0,
                "target": 0.9,
                "target_kind": "min",
                "target_on": "ratio",
                "result": "PASS",
            },
        ],
    }


def test_each_figure_at_both_sizes_with_its_growth():
    lines = table(
        run(10_000, 3_606_073, 20.0, 300_000), run(100_000, 36_061_008, 300.0, 270_000)
    ).splitlines()
    assert lines[0].startswith(
        "| section | figure | 10,000 accounts (3,606,073 snapshots) | 100,000 accounts"
    )
    summary, download = lines[2], lines[3]
    assert "| 20.0 ms | 300.0 ms | 15.00x |" in summary
    assert "| <= 25 / <= 250 | PASS / MISS |" in summary
    assert "CSV download of N rows (in-process)" in download
    assert "| 0.90x |" in download
    assert "| >= 0.9x | PASS / PASS |" in download
