"""The study report counts every ensemble variant evaluated over the study's models as one
more trial in the deflated Sharpe's N: backtests and compares of ensembles written into the
study folder, each distinct variant once however often it was evaluated; a backtest
multirun swept into the folder is not mistaken for training jobs."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import yaml
from scipy.stats import norm
from test_studies_report import make_job

from ploutos.studies import build_report

EULER_GAMMA = 0.5772156649015329


def ensemble_doc(rule: str, members: list[str], **settings) -> dict:
    """The `ensemble` entry the backtest and compare apps write (EnsembleModel.doc)."""
    rows = [{"name": f"m{i}", "checkpoint": c, "weight": 1 / len(members)}
            for i, c in enumerate(members)]  # fmt: skip
    return {"label": f"ensemble:{rule}", "rule": rule, "members": rows, **settings}


def write_backtest(folder: Path, ensemble: dict, sharpe: float, split: str = "test") -> None:
    folder.mkdir(parents=True)
    strategies = {"agent": {"sharpe": sharpe}, "buy_and_hold": {"sharpe": 5.0}}
    doc = {"settings": {"split": split}, "ensemble": ensemble, "strategies": strategies}
    (folder / "metrics.json").write_text(json.dumps(doc))


def write_compare(folder: Path, ensemble: dict, sharpe: float) -> None:
    folder.mkdir(parents=True)
    label = ensemble["label"]
    doc = {"ensemble": ensemble, "models": [label, "m0"],
           "metrics": {label: {"sharpe": sharpe}, "m0": {"sharpe": 5.0}}}  # fmt: skip
    (folder / "compare.json").write_text(json.dumps(doc))


def hand_dsr(sharpe: float, n_obs: int, n_trials: int, variance: float) -> float:
    """Bailey & Lopez de Prado's DSR for normal returns, written out with scipy."""
    sr0 = math.sqrt(variance) * (
        (1 - EULER_GAMMA) * norm.ppf(1 - 1 / n_trials)
        + EULER_GAMMA * norm.ppf(1 - 1 / (n_trials * math.e))
    )
    return float(norm.cdf((sharpe - sr0) * math.sqrt(n_obs - 1) / math.sqrt(1 + sharpe**2 / 2)))


def test_every_ensemble_variant_is_a_trial_of_the_verdict(tmp_path: Path) -> None:
    root = tmp_path / "multirun"
    base = ["experiment=smoke", "data=synthetic"]
    jobs = [
        make_job(root, 0, [*base, "ent_coef=0.05", "seed=0"], 0, (0.5, 1.0), test=0.3),
        make_job(root, 1, [*base, "ent_coef=0.05", "seed=1"], 1, (0.7, 1.4)),
        make_job(root, 2, [*base, "ent_coef=0.1", "seed=0"], 0, (0.1, 0.2)),
        make_job(root, 3, [*base, "ent_coef=0.1", "seed=1"], 1, (0.3, 0.6)),
    ]
    without = build_report(root, tmp_path / "plain").verdict
    assert without["dsr_n_trials"] == 2 and without["n_ensemble_variants"] == 0

    ckpts = [str(j / "checkpoints" / "best.ckpt") for j in jobs]
    vote = ensemble_doc("vote", ckpts)
    write_backtest(root / "ensembles" / "vote", vote, 0.8)
    # The same vote again on the validation split, members listed in another order: one trial.
    write_backtest(root / "ensembles" / "vote_val", ensemble_doc("vote", ckpts[::-1]), 0.9, "val")
    write_compare(root / "ensembles" / "compare_mean", ensemble_doc("mean_probs", ckpts), 0.6)
    # A backtest multirun over two temperatures swept into the study folder: Hydra job folders
    # without a summary.json.
    for num, temperature in enumerate((0.5, 2.0)):
        job = root / "ensemble_sweep" / str(num)
        weighted = ensemble_doc("weighted", ckpts[:3], metric="sharpe", temperature=temperature)
        write_backtest(job, weighted, 0.4 + num)
        (job / ".hydra").mkdir()
        (job / ".hydra" / "config.yaml").write_text("ensemble:\n  name: weighted\n")
        overrides = ["ensemble=weighted", f"ensemble.temperature={temperature}"]
        (job / ".hydra" / "overrides.yaml").write_text(yaml.safe_dump(overrides))

    report = build_report(root, tmp_path / "out")
    assert sorted(v["label"] for v in report.ensembles) == [
        "ensemble:mean_probs", "ensemble:vote", "ensemble:weighted", "ensemble:weighted"
    ]  # fmt: skip
    votes = [v for v in report.ensembles if v["label"] == "ensemble:vote"]
    assert len(votes[0]["paths"]) == 2 and votes[0]["sharpe"] == 0.8
    # The evaluation sweep is not part of the study's jobs or configurations.
    assert list(report.jobs["job"]) == ["0", "1", "2", "3"]
    assert sorted(report.configs["config"]) == ["ent_coef=0.05", "ent_coef=0.1"]

    # N = 2 configurations + 4 ensemble variants; V and the winner are the configurations'.
    found = report.verdict
    variance = np.var([1.2, 0.4], ddof=1) / 252
    expected = hand_dsr(1.2 / math.sqrt(252), 500, 6, variance)
    assert found["best_config"] == "ent_coef=0.05"
    assert (found["dsr_n_trials"], found["n_ensemble_variants"]) == (6, 4)
    assert found["dsr_sharpe_variance"] == pytest.approx(variance)
    assert found["dsr_dsr"] == pytest.approx(expected, rel=1e-9)
    assert without["dsr_dsr"] == pytest.approx(hand_dsr(1.2 / math.sqrt(252), 500, 2, variance))
    assert found["dsr_dsr"] < without["dsr_dsr"]  # more trials, a higher bar for the winner
    assert "2 configuration(s) and 4 ensemble variant(s), 6 trials" in found["text"]
    markdown = report.paths["markdown"].read_text()
    assert "## Ensemble variants (each a trial in the verdict's N)" in markdown
    assert "| ensemble:mean_probs | 4 | 0.600 |" in markdown
