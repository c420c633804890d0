"""The selection study's analysis (ploutos/studies/selection_study.py): each rule's pick maps
to the checkpoint written at that evaluation, and the per-signal table averages as stated."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ploutos.studies.selection_study import (
    markdown,
    market_label,
    rule_checkpoints,
    summarize,
)


def fake_run(tmp_path: Path) -> tuple[Path, dict]:
    periodic = tmp_path / "checkpoints" / "periodic"
    periodic.mkdir(parents=True)
    for steps in (1000, 2000, 3000):
        (periodic / f"envsteps_{steps:012d}.ckpt").write_bytes(b"x")
    (tmp_path / "checkpoints" / "last.ckpt").write_bytes(b"x")
    values, lows = [0.5, 2.0, 1.0, 1.2], [-1.0, -0.1, 0.3, 0.0]
    history = [{"env_steps": s, "value": v, "ci_low": lo}
               for s, v, lo in zip((1000, 2000, 3000, 3500), values, lows, strict=True)]
    summary = {
        "env_steps": 3500,
        "best_eval": {"monitor": "eval/sharpe", "mode": "max"},
        "selection": {"rule": "best", "smoothing": 0.5, "history": history},
    }
    return tmp_path, summary


def test_each_rule_maps_to_the_checkpoint_of_its_evaluation(tmp_path: Path) -> None:
    job, summary = fake_run(tmp_path)
    picks = rule_checkpoints(job, summary)
    periodic = job / "checkpoints" / "periodic"
    assert picks["best"] == (periodic / "envsteps_000000002000.ckpt", 2000)
    assert picks["lower_bound"] == (periodic / "envsteps_000000003000.ckpt", 3000)
    # smoothed, alpha 0.5: 0.5, 1.25, 1.125, 1.1625 -> the second evaluation
    assert picks["smoothed"] == (periodic / "envsteps_000000002000.ckpt", 2000)
    # the final evaluation (3,500 steps, not a periodic multiple) is last.ckpt's
    assert picks["last"] == (job / "checkpoints" / "last.ckpt", 3500)


def test_summary_averages_over_seeds() -> None:
    runs = pd.DataFrame([
        {"signal": "lead_lag", "rule": "best", "test_sharpe": 1.0, "oracle_sharpe": 2.0,
         "last_test_sharpe": 1.5, "bh_sharpe": 0.1, "covers_bh": 0.0, "skill": 1.0,
         "val_sharpe": 2.0},
        {"signal": "lead_lag", "rule": "best", "test_sharpe": 2.0, "oracle_sharpe": 4.0,
         "last_test_sharpe": 1.5, "bh_sharpe": 0.3, "covers_bh": 1.0, "skill": 0.0,
         "val_sharpe": 1.0},
        {"signal": "none", "rule": "best", "test_sharpe": 0.2, "oracle_sharpe": np.nan,
         "last_test_sharpe": 0.4, "bh_sharpe": 0.2, "covers_bh": 1.0, "skill": 0.0,
         "val_sharpe": 0.5},
    ])
    table = summarize(runs)
    row = table.iloc[0]
    assert row.seeds == 2 and row.capture == pytest.approx(1.5 / 3.0)
    assert row.minus_last == pytest.approx(0.0) and row.covers_bh == 0.5
    assert row.skill_verdicts == 1
    assert np.isnan(table.iloc[1].capture)
    text = markdown(table)
    assert "| lead_lag | best | 2 | +1.50 | +3.00 | 0.50 | +0.00 |" in text
    assert "| none | best | 1 | +0.20 | n/a | n/a | -0.20 |" in text


def test_rows_are_labelled_by_planted_kind_or_by_fold() -> None:
    assert market_label({"source": "synthetic", "signal": "lead_lag"}) == "lead_lag"
    assert market_label({"source": "synthetic"}) == "ts_momentum"
    fold = {"source": "sample", "splits": {"val_start": "2011-01-01", "test_start": "2014-01-01"}}
    assert market_label(fold) == "sample test 2014-01-01"
