"""Run a named study as one Hydra multirun, then write its report.

    python experiments/study.py --list
    python experiments/study.py ablation_reward scale=smoke          # CPU, minutes
    python experiments/study.py v6_15m_vs_50m                         # the seed's scale
    python experiments/study.py ablation_reward scale=smoke hydra/launcher=local_parallel
    python experiments/study.py v6_15m_vs_50m --resume multirun/studies/v6_15m_vs_50m-full/DIR
    python experiments/study.py ablations --only +arm=norm_off --only seed=0   # one arm alone

A study is experiments/studies/NAME.yaml: per scale, `fixed` overrides and a `sweep` of
comma-separated values (a cartesian product, Hydra's basic sweeper); `analysis: MODULE`
runs `python -m MODULE SWEEP_DIR` after the report. Paired choices (v7 needs
the transformer) are arms, experiments/conf/arm/*.yaml, swept as `+arm=a,b`. Any other
argument goes to train.py unchanged (launcher, device, logger, ...). The sweep lands in
multirun/studies/NAME-SCALE/DATE_TIME and its report in that folder's report/.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parent.parent
STUDIES = REPO / "experiments" / "studies"
ARMS_CONF = REPO / "experiments" / "conf"


def available() -> list[str]:
    return sorted(p.stem for p in STUDIES.glob("*.yaml"))


def load_study(name: str) -> dict:
    path = STUDIES / f"{name}.yaml"
    if not path.is_file():
        raise SystemExit(f"unknown study '{name}'; available: {', '.join(available())}")
    return yaml.safe_load(path.read_text())


def narrow_sweep(sweep: dict, only: list[str]) -> dict:
    """The sweep with each `KEY=V1,V2` of `only` keeping just those values: one arm (or one
    seed) of a study, rerun alone. A key the study does not sweep, or a value it does not
    try, is refused, so the narrowed run is always a part of the study."""
    narrowed = dict(sweep)
    for item in only:
        key, sep, values = item.partition("=")
        if not sep or key not in sweep:
            raise SystemExit(f"--only {item}: the study sweeps {', '.join(sweep)}")
        known = str(sweep[key]).split(",")
        unknown = [v for v in values.split(",") if v not in known]
        if unknown:
            raise SystemExit(f"--only {item}: {key} takes {','.join(known)} in this study")
        narrowed[key] = values
    return narrowed


def train_command(
    name: str, scale: str, extra: list[str], sweep_dir: Path, only: list[str] | None = None
) -> list[str]:
    """The `python train.py -m ...` command line of a study at a scale (`only`: a part of its
    sweep, see narrow_sweep)."""
    study = load_study(name)
    if scale not in study["scales"]:
        raise SystemExit(f"study '{name}' has no scale '{scale}'; has {sorted(study['scales'])}")
    spec = study["scales"][scale]
    swept = narrow_sweep(spec["sweep"], only or [])
    sweep = [f"{key}={values}" for key, values in swept.items()]
    return [
        sys.executable,
        str(REPO / "train.py"),
        "-m",
        f"--config-dir={ARMS_CONF}",
        f"hydra.sweep.dir={sweep_dir}",
        *spec.get("fixed", []),
        *sweep,
        # Each job continues from its own folder's newest checkpoint and skips when finished,
        # so running the same command on the same folder resumes an interrupted study.
        "ckpt_path=auto",
        *extra,
    ]


def backtest_jobs(sweep_dir: Path) -> int:
    """Backtest each finished job's selected checkpoint (best.ckpt, last.ckpt beside it) on
    the test split, into <job>/backtest (timing at the backtest's horizon, 5 days) and
    <job>/backtest_h1 (at 1 day). A job backtested already is skipped, so this resumes too.
    Returns the number of backtests run."""
    from ploutos.studies.collect import STUDY_BACKTEST, STUDY_BACKTEST_H1, find_jobs
    from ploutos.training.resume import FINISHED

    ran = 0
    for job in find_jobs(sweep_dir):
        summary = job / "summary.json"
        if not summary.is_file() or json.loads(summary.read_text())["status"] not in FINISHED:
            continue
        ckpt = job / "checkpoints" / "best.ckpt"
        ckpt = ckpt if ckpt.is_file() else job / "checkpoints" / "last.ckpt"
        for folder, horizon in ((STUDY_BACKTEST, 5), (STUDY_BACKTEST_H1, 1)):
            out = job / folder
            if (out / "metrics.json").is_file():
                continue
            command = [sys.executable, str(REPO / "backtest.py"), f"ckpt={ckpt}",
                       f"horizon={horizon}", f"hydra.run.dir={out}"]
            print(" ".join(command[1:]))
            subprocess.run(command, cwd=REPO, check=True)
            ran += 1
    return ran


def _split_scale(args: list[str]) -> tuple[str, list[str]]:
    scale, rest = "full", []
    for arg in args:
        if arg.startswith("scale="):
            scale = arg.split("=", 1)[1]
        else:
            rest.append(arg)
    return scale, rest


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("study", nargs="?", help="study name (experiments/studies/NAME.yaml)")
    parser.add_argument("--list", action="store_true", help="list the studies and exit")
    parser.add_argument("--no-report", action="store_true", help="skip the report")
    parser.add_argument(
        "--no-backtest",
        action="store_true",
        help="skip the test backtests of the jobs' selected checkpoints",
    )
    parser.add_argument(
        "--report-only",
        action="store_true",
        help="with --resume: train nothing; backtest the jobs finished so far and write the "
        "report (a study still running, or stopped part way)",
    )
    parser.add_argument("--dry-run", action="store_true", help="print the command only")
    parser.add_argument(
        "--only",
        action="append",
        default=[],
        metavar="KEY=VALUES",
        help="run a part of the sweep, e.g. --only +arm=norm_off --only seed=0 (repeatable)",
    )
    parser.add_argument(
        "--out", type=Path, help="sweep folder (default multirun/studies/NAME-SCALE/DATE_TIME)"
    )
    parser.add_argument(
        "--resume",
        type=Path,
        metavar="DIR",
        help="continue the study in DIR: finished jobs are skipped, the others continue from "
        "their newest checkpoint (the same command and arguments as the first run)",
    )
    args, rest = parser.parse_known_args(argv)
    if args.list or not args.study:
        for name in available():
            print(f"{name}: {' '.join(load_study(name)['description'].split())}")
        return 0
    scale, extra = _split_scale(rest)
    if args.resume is not None and not (args.resume / "multirun.yaml").is_file():
        raise SystemExit(f"--resume: no multirun.yaml in {args.resume}: not a study's folder")
    stamp = datetime.now().strftime("%Y-%m-%d_%H-%M-%S")
    default_dir = REPO / "multirun" / "studies" / f"{args.study}-{scale}" / stamp
    sweep_dir = args.resume or args.out or default_dir
    if args.report_only and args.resume is None:
        raise SystemExit("--report-only needs --resume DIR: the study folder to report on")
    command = train_command(args.study, scale, extra, sweep_dir, args.only)
    print(" ".join(command[1:]))
    if args.dry_run:
        return 0
    code = 0 if args.report_only else subprocess.run(command, cwd=REPO).returncode
    if code == 0 and not args.no_backtest:
        backtest_jobs(sweep_dir)
    if code == 0 and not args.no_report:
        from ploutos.studies import build_report

        report = build_report(sweep_dir)
        print(report.verdict.get("text", report.verdict.get("reason")))
        print(f"report: {report.paths['markdown']}")
        analysis = load_study(args.study).get("analysis")
        if analysis:  # the study's own second half (e.g. backtests of its picks), one module
            code = subprocess.run([sys.executable, "-m", analysis, str(sweep_dir)],
                                  cwd=REPO).returncode
    return code


if __name__ == "__main__":
    sys.exit(main())
