"""Turn a multirun folder into a comparison: `python experiments/report.py multirun/DATE/TIME`.

Writes into <folder>/report/ (or --out): jobs.csv (one row per job), configs.csv (mean and
std over seeds per configuration), report.md, curves.png and verdict.json (the deflated
Sharpe ratio of the best configuration given how many were tried). --wandb also logs the
verdict as a W&B run in the sweep's group (ploutos/dashboards/study_report.py).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ploutos.studies import build_report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("multirun", help="a Hydra multirun folder (or any folder of jobs)")
    parser.add_argument("--out", default=None, help="output folder (default: <multirun>/report)")
    parser.add_argument(
        "--select",
        choices=("best", "final"),
        default="best",
        help="validation Sharpe judged: at each run's best checkpoint, or its last evaluation",
    )
    parser.add_argument("--periods-per-year", type=int, default=252)
    parser.add_argument(
        "--wandb",
        metavar="PROJECT",
        nargs="?",
        const="ploutos",
        default=None,
        help="also log the verdict as a W&B run in the sweep's group (project: ploutos)",
    )
    args = parser.parse_args(argv)
    report = build_report(args.multirun, args.out, args.select, args.periods_per_year)
    if args.wandb:
        from ploutos.dashboards.study_report import log_study_verdict

        folder = log_study_verdict(
            Path(args.multirun), report.verdict, report.configs,
            report.paths["markdown"].parent, project=args.wandb,
        )  # fmt: skip
        print(f"W&B study run: {folder}")
    print((report.paths["markdown"]).read_text())
    for kind, path in report.paths.items():
        print(f"{kind}: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
