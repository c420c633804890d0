"""End to end: a two-job multirun of the training app (basic launcher, synthetic data, tiny
scale), then the study report over its folder."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from ploutos.studies import build_report

REPO = Path(__file__).resolve().parent.parent


def _run(*args: str, timeout: int) -> subprocess.CompletedProcess:
    """A repository script in a fresh interpreter; fails the test with its stderr."""
    out = subprocess.run(
        [sys.executable, *args], cwd=REPO, capture_output=True, text=True, timeout=timeout
    )
    assert out.returncode == 0, out.stderr[-3000:]
    return out


@pytest.mark.slow
def test_two_job_multirun_then_report(tmp_path: Path):
    sweep = tmp_path / "multirun"
    _run(
        "train.py",
        "-m",
        "experiment=smoke",
        "data=synthetic",
        "total_timesteps=1024",
        "eval_freq=512",
        "checkpoint_freq=1024",
        "ent_coef=0.0,0.5",
        f"hydra.sweep.dir={sweep}",
        timeout=600,
    )
    for job in ("0", "1"):
        summary = json.loads((sweep / job / "summary.json").read_text())
        assert summary["status"] == "completed" and summary["env_steps"] == 1024
        assert (sweep / job / "csv" / "metrics.csv").is_file()

    report = build_report(sweep)
    assert list(report.configs["config"]) == ["ent_coef=0.0", "ent_coef=0.5"]
    assert (report.configs["n_jobs"] == 1).all()
    assert report.jobs["env_steps_per_s"].gt(0).all()
    assert report.verdict["available"] and report.verdict["dsr_n_trials"] == 2
    assert report.verdict["dsr_n_obs"] == int(report.jobs["val_days"].iloc[0]) > 100
    assert 0.0 <= report.verdict["dsr_dsr"] <= 1.0
    assert report.paths["curves"].stat().st_size > 10_000
    assert "ent_coef=0.5" in report.paths["markdown"].read_text()


@pytest.mark.slow
def test_smoke_study_runs_and_reports(tmp_path: Path):
    """The README's example: a named study at smoke scale, one command, one report."""
    sweep = tmp_path / "study"
    out = _run(
        "experiments/study.py", "v6_15m_vs_50m", "scale=smoke", "--out", str(sweep), timeout=1800
    )
    report = build_report(sweep)
    jobs = report.jobs.set_index("job")
    assert list(report.configs["config"]) == ["arm=v6_15m_smoke", "arm=v6_50m_smoke"]
    assert list(report.configs["n_jobs"]) == [2, 2]
    # The seed's 15M:50M ratio at smoke scale; like v6_50m, the long arm may stop early.
    short, long = jobs[jobs["arm"] == "v6_15m_smoke"], jobs[jobs["arm"] == "v6_50m_smoke"]
    assert (short["status"] == "completed").all() and (short["env_steps"] == 1536).all()
    assert long["status"].isin(["completed", "early_stopped"]).all()
    assert long["env_steps"].between(1536, 5120).all()
    assert report.verdict["available"] and report.verdict["dsr_n_trials"] == 2
    assert (sweep / "report" / "report.md").is_file() and "report:" in out.stdout
    # Every job's selected checkpoint was backtested at both horizons, beside the baselines
    # of the same windows: buy-and-hold is one number for every job.
    assert jobs["test_sharpe"].notna().all() and jobs["test_last_sharpe"].notna().all()
    assert jobs["test_h1_buy_quality"].between(0, 1).all()
    assert jobs["test_buy_and_hold_sharpe"].nunique() == 1
    # report.md's test table shows each config's mean over its seeds.
    test_table = report.paths["markdown"].read_text().split("## Test split")[1]
    row = next(line for line in test_table.splitlines() if line.startswith("| arm=v6_15m_smoke"))
    for col in ("test_sharpe", "test_last_sharpe", "test_buy_and_hold_sharpe"):
        assert f"{short[col].mean():.3f}" in row, col

    # The same command on the same folder resumes: finished jobs and backtests are skipped.
    stamps = {p: p.stat().st_mtime_ns for p in sweep.glob("*/summary.json")}
    stamps |= {p: p.stat().st_mtime_ns for p in sweep.glob("*/backtest*/metrics.json")}
    again = _run("experiments/study.py", "v6_15m_vs_50m", "scale=smoke", "--resume", str(sweep),
                 timeout=1800)
    assert again.stdout.count("skipped (ckpt_path=auto)") + again.stderr.count(
        "skipped (ckpt_path=auto)") == 4
    assert {p: p.stat().st_mtime_ns for p in stamps} == stamps
