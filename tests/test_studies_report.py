"""The study report on hand-made multirun folders: tables, spreads over seeds, backtest
metrics, missing jobs, the DSR verdict's inputs, files on disk and the CLI."""

import json
import math
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

from ploutos.errors import DataError
from ploutos.studies import build_report, deannualize, deflated_sharpe_ratio, read_multirun
from ploutos.studies.collect import parse_overrides

REPO = Path(__file__).resolve().parent.parent


def make_job(
    root: Path,
    num: int,
    overrides: list[str],
    seed: int,
    val: tuple | None,
    test=None,
    status: str = "completed",
):
    """A job folder as train.py leaves it; val = (final Sharpe, best Sharpe) or None for a
    job that never wrote its summary."""
    job = root / str(num)
    (job / ".hydra").mkdir(parents=True)
    (job / ".hydra" / "config.yaml").write_text(yaml.safe_dump({"seed": seed, "ent_coef": 0.1}))
    (job / ".hydra" / "overrides.yaml").write_text(yaml.safe_dump(overrides))
    if val is None:
        return job
    final, best = val
    summary = {
        "status": status,
        "env_steps": 4096,
        "env_steps_per_s": 100.0 + num,
        "wall_time_s": 40.0,
        "final_eval": {"env_steps": 4096, "eval/sharpe": final, "eval/days": 500.0},
        "best_eval": {
            "score": best,
            "metrics": {"eval/sharpe": best, "eval/total_return": 0.1, "eval/days": 500.0},
        },
    }
    (job / "summary.json").write_text(json.dumps(summary))
    (job / "csv").mkdir()
    (job / "csv" / "metrics.csv").write_text(
        "eval/sharpe,step,train/env_steps,train/episode_return\n"
        ",0,2048,1.0\n"
        f"{best},0,,\n"
        f",1,4096,2.0\n"
        f"{final},1,,\n"
    )
    if test is not None:
        (job / "backtest").mkdir()
        doc = {"strategies": {"agent": {"sharpe": test, "total_return": 0.2}, "cash": {}}}
        (job / "backtest" / "metrics.json").write_text(json.dumps(doc))
        # The backtest app's own Hydra record, inside the job: not a job of the sweep.
        (job / "backtest" / ".hydra").mkdir()
        (job / "backtest" / ".hydra" / "config.yaml").write_text("ckpt: x\n")
    return job


@pytest.fixture
def multirun(tmp_path: Path) -> Path:
    root = tmp_path / "multirun" / "2026-01-01" / "12-00-00"
    base = ["experiment=smoke", "data=synthetic"]
    make_job(root, 0, [*base, "ent_coef=0.05", "seed=0"], 0, (0.5, 1.0), test=0.3)
    make_job(root, 1, [*base, "ent_coef=0.05", "seed=1"], 1, (0.7, 1.4), test=0.5)
    make_job(root, 2, [*base, "ent_coef=0.1", "seed=0"], 0, (0.1, 0.2))
    make_job(root, 3, [*base, "ent_coef=0.1", "seed=1"], 1, (0.3, 0.6))
    make_job(root, 10, [*base, "ent_coef=0.1", "seed=2"], 2, None)  # killed before its summary
    # Stopped by a signal part way (resumable): a summary, but no result to average yet.
    make_job(root, 11, [*base, "ent_coef=0.05", "seed=2"], 2, (-9.0, 9.0), status="interrupted")
    return root


def test_parse_overrides():
    parsed = parse_overrides(["a=1", "+arm=x", "++b.c=[1,2]", "~d", "model=mlp"])
    assert parsed == {"a": "1", "arm": "x", "b.c": "[1,2]", "model": "mlp"}


def test_reads_jobs_and_swept_keys(multirun: Path):
    jobs = read_multirun(multirun)
    assert [j.name for j in jobs] == ["0", "1", "2", "3", "10", "11"]  # numeric order
    assert jobs[0].swept == {"ent_coef": "0.05", "seed": "0"}
    assert jobs[4].status == "missing"
    assert jobs[0].backtest == {"sharpe": 0.3, "total_return": 0.2}


def test_last_checkpoint_figures_when_the_backtest_showed_it_once(tmp_path: Path):
    """A backtest of best.ckpt that is the run's last checkpoint writes no last_checkpoint
    section (it shows the checkpoint once): its own figures are last.ckpt's. A selected
    checkpoint from earlier in the run gives none without the section."""
    root = tmp_path / "sweep"
    for num, steps in ((0, 4096), (1, 2048)):
        job = make_job(root, num, [f"seed={num}"], num, (0.5, 1.0), test=0.3 + num)
        path = job / "backtest" / "metrics.json"
        doc = json.loads(path.read_text())
        path.write_text(json.dumps({**doc, "env_steps": steps}))  # the run ends at 4096
    first, second = read_multirun(root)
    assert first.last_checkpoint["env_steps"] == 4096
    assert first.last_checkpoint["metrics"]["sharpe"] == 0.3
    assert second.last_checkpoint is None
    frame = build_report(root, out_dir=tmp_path / "report").jobs.set_index("job")
    assert frame.loc["0", "test_last_sharpe"] == pytest.approx(0.3)
    assert math.isnan(frame.loc["1", "test_last_sharpe"])


def test_tables_spread_over_seeds_and_verdict(multirun: Path):
    report = build_report(multirun)
    configs = report.configs.set_index("config")
    a, b = configs.loc["ent_coef=0.05"], configs.loc["ent_coef=0.1"]
    assert (a["n_jobs"], a["n_missing"], b["n_jobs"], b["n_missing"]) == (2, 1, 2, 1)
    assert a["val_final_sharpe_mean"] == pytest.approx(0.6)
    assert a["val_final_sharpe_std"] == pytest.approx(np.std([0.5, 0.7], ddof=1))
    assert a["val_best_sharpe_mean"] == pytest.approx(1.2)
    assert b["val_best_sharpe_mean"] == pytest.approx(0.4)
    assert a["test_sharpe_mean"] == pytest.approx(0.4)
    assert math.isnan(b["test_sharpe_mean"])  # no backtest of those jobs
    assert (a["n_backtested"], b["n_backtested"]) == (2, 0)
    assert a["env_steps_per_s_mean"] == pytest.approx(100.5)

    # Winner ent_coef=0.05 by mean best-checkpoint Sharpe; N = 2 configurations (seeds are
    # replicates), V = variance of the two config means, T = 500 validation days.
    found = report.verdict
    expected = deflated_sharpe_ratio(
        sharpe=deannualize(1.2),
        n_obs=500,
        n_trials=2,
        sharpe_variance=np.var([1.2, 0.4], ddof=1) / 252,
    )
    assert found["best_config"] == "ent_coef=0.05"
    assert found["dsr_n_trials"] == 2
    assert found["dsr_dsr"] == pytest.approx(expected.dsr)
    assert found["dsr_expected_max_sharpe"] == pytest.approx(expected.expected_max_sharpe)
    assert found["significant"] == (expected.dsr >= 0.95)
    assert 0.0 < found["dsr_dsr"] < found["dsr_psr_zero"] < 1.0


def test_files_written(multirun: Path, tmp_path: Path):
    report = build_report(multirun, tmp_path / "out", select="final")
    for path in report.paths.values():
        assert path.is_file() and path.stat().st_size > 0
    text = report.paths["markdown"].read_text()
    assert "| ent_coef=0.05 | 2 | 0.600 ± 0.141 |" in text
    assert "Deflated Sharpe ratio" in text
    assert json.loads(report.paths["verdict"].read_text())["select"] == "final"
    assert len(list((tmp_path / "out").glob(".*.tmp"))) == 0


def test_cli(multirun: Path, capsys, monkeypatch):
    monkeypatch.syspath_prepend(str(REPO / "experiments"))
    import report as report_cli

    assert report_cli.main([str(multirun)]) == 0
    assert "Study report" in capsys.readouterr().out
    assert (multirun / "report" / "configs.csv").is_file()
    sys.modules.pop("report", None)


def test_errors(tmp_path: Path):
    with pytest.raises(FileNotFoundError, match="nowhere"):
        build_report(tmp_path / "nowhere")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="no Hydra jobs"):
        build_report(tmp_path / "empty")
