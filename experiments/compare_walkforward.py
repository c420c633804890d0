"""Paired test of two walk-forward runs over the same test days:
`python experiments/compare_walkforward.py A B [--out FILE.json]`.

A and B are walk-forward output folders (`python walkforward.py ...`), each holding the
stitched equity.csv of its folds. One fold's test days are one draw of the market; the
stitched days of all folds are many, so the two agents' daily returns on the same days
are compared by the paired stationary bootstrap of their Sharpe difference (the test compare
uses for checkpoints), and each agent against the buy-and-hold both ran beside it.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import pandas as pd

from ploutos.errors import DataError
from ploutos.evaluation.compare import paired_sharpe_test
from ploutos.evaluation.metrics import simple_returns
from ploutos.io import atomic_write_text

AGENT, BENCHMARK = "agent", "buy_and_hold"


def stitched_equity(folder: Path) -> pd.DataFrame:
    path = folder / "equity.csv"
    if not path.is_file():
        raise DataError(f"{path}: no stitched equity.csv (is {folder} a walk-forward folder?)")
    frame = pd.read_csv(path)
    missing = {"date", AGENT, BENCHMARK} - set(frame.columns)
    if missing:
        raise DataError(f"{path}: lacks the columns {sorted(missing)}")
    return frame


def compare_walkforwards(a: Path, b: Path, n_boot: int = 5000) -> list[dict]:
    """The paired tests A - B, A - buy-and-hold and B - buy-and-hold on the stitched days."""
    frame_a, frame_b = stitched_equity(a), stitched_equity(b)
    if list(frame_a["date"]) != list(frame_b["date"]):
        raise DataError(f"{a} and {b} test different days: run both with the same folds")
    returns = {
        "A": simple_returns(frame_a[AGENT].to_numpy()),
        "B": simple_returns(frame_b[AGENT].to_numpy()),
        BENCHMARK: simple_returns(frame_a[BENCHMARK].to_numpy()),
    }
    pairs = (("A", "B"), ("A", BENCHMARK), ("B", BENCHMARK))
    return [
        {"a": x, "b": y, **paired_sharpe_test(returns[x], returns[y], n_boot=n_boot)}
        for x, y in pairs
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("a", type=Path, help="walk-forward folder A")
    parser.add_argument("b", type=Path, help="walk-forward folder B")
    parser.add_argument("--n-boot", type=int, default=5000)
    parser.add_argument("--out", type=Path, help="also write the tests as JSON here")
    args = parser.parse_args(argv)
    try:
        tests = compare_walkforwards(args.a, args.b, args.n_boot)
    except DataError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(f"A: {args.a}\nB: {args.b}\n{tests[0]['days']} stitched test days")
    header = ("A", "B", "Sharpe A", "Sharpe B", "A - B", "95% CI", "p-value")
    print("{:>13} {:>13} {:>9} {:>9} {:>7} {:>18} {}".format(*header))
    for t in tests:
        ci = f"[{t['low']:+.3f}, {t['high']:+.3f}]"
        print(f"{t['a']:>13} {t['b']:>13} {t['sharpe_a']:+9.3f} {t['sharpe_b']:+9.3f} "
              f"{t['diff']:+7.3f} {ci:>18} {t['p_value']:.4f}")  # fmt: skip
    if args.out:
        atomic_write_text(args.out, json.dumps({"a": str(args.a), "b": str(args.b),
                                                "tests": tests}, indent=2) + "\n")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
