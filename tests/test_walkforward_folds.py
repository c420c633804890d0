"""Walk-forward: fold windows (no overlap, embargo), the per-fold market (train-only
normalizer, exact splits), exact stitching, and the orchestration with training replaced."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from conftest import compose_config
from omegaconf import DictConfig
from PIL import Image

from ploutos.apps.walkforward import run_all
from ploutos.data.splits import walk_forward_folds
from ploutos.env.actions import make_action_space
from ploutos.errors import ConfigError
from ploutos.evaluation.metrics import compute_metrics
from ploutos.evaluation.walkforward import (
    fold_config,
    fold_market,
    plan_folds,
    stitch,
    stitch_curves,
)
from ploutos.features.normalizer import AdaptiveNormalizer
from ploutos.models import make_policy
from ploutos.obs.builders import make_obs_builder

# 2 folds of a small synthetic market: warm-up + 300 train + 5 + 60 val + 5 + 60 test, step 60.
SMALL = [
    "experiment=wf_cpu",
    "data=synthetic",
    "data.n_assets=3",
    "data.n_days=560",
    "features=minimal",
    "data.walk_forward.train_days=300",
    "data.walk_forward.val_days=60",
    "data.walk_forward.test_days=60",
    "data.walk_forward.step_days=60",
    "data.walk_forward.embargo_days=5",
    "walkforward.n_boot=50",
]


def wf_cfg(*overrides: str) -> DictConfig:
    return compose_config("walkforward", [*SMALL, *overrides])


@pytest.mark.parametrize("mode", ["expanding", "rolling"])
@pytest.mark.parametrize("embargo", [0, 7])
def test_fold_windows_never_overlap_and_respect_the_embargo(mode: str, embargo: int) -> None:
    dates = np.datetime64("2001-01-01") + np.arange(2000).astype("timedelta64[D]")
    wf = {"mode": mode, "train_days": 500, "val_days": 100, "test_days": 120,
          "step_days": None, "embargo_days": embargo}
    folds = walk_forward_folds(dates, wf, warmup=40)
    assert len(folds) == (2000 - 40 - 500 - 2 * embargo - 100 - 120) // 120 + 1
    for k, f in enumerate(folds):
        train, val, test = f["train"], f["val"], f["test"]
        assert train.start >= 40 and test.stop <= 2000
        assert val.start - train.stop == embargo and test.start - val.stop == embargo
        assert (val.n_days, test.n_days) == (100, 120)
        assert train.n_days == (500 + 120 * k if mode == "expanding" else 500)
        days = [set(range(r.start, r.stop)) for r in (train, val, test)]
        assert not (days[0] & days[1]) and not (days[1] & days[2]) and not (days[0] & days[2])
        if k:
            # Test windows tile the calendar: each starts the day after the previous one ends.
            assert test.start == folds[k - 1]["test"].stop


def test_fold_market_fits_the_normalizer_on_the_fold_train_window_only(tmp_path) -> None:
    cfg = wf_cfg()
    plan = plan_folds(cfg)
    assert len(plan.folds) == 2
    fold = plan.folds[1]
    fcfg = fold_config(cfg, plan, 1, tmp_path / "train")
    assert fcfg.trainer.output_dir == str(tmp_path / "train")
    assert fcfg.data.splits.end == str(plan.dates[fold["test"].stop - 1])
    market, report = fold_market(fcfg, fold)
    assert market.splits == fold and report.splits == fold
    # The normalizer state is exactly a fit on the fold's train days.
    from ploutos.data import load_bars
    from ploutos.features import build_features

    raw = build_features(load_bars(fcfg.data), fcfg.features).values
    ref = AdaptiveNormalizer.from_config(fcfg.features.normalizer)
    ref.fit(raw, slice(fold["train"].start, fold["train"].stop))
    ours = report.normalizer_state
    for key, value in ref.state_dict().items():
        if isinstance(value, (list, np.ndarray)):
            np.testing.assert_allclose(np.asarray(ours[key]), np.asarray(value))
        else:
            assert ours[key] == value
    with pytest.raises(ConfigError, match="^fold"):
        fold_config(cfg, plan, 2, tmp_path)


def test_stitch_curves_is_exact() -> None:
    a = np.array([100.0, 110.0, 99.0])
    b = np.array([50.0, 55.0, 60.5, 30.25])
    c = np.array([7.0, 14.0])
    out = stitch_curves([a, b, c])
    np.testing.assert_allclose(out, [100, 110, 99, 99, 108.9, 119.79, 59.895, 59.895, 119.79])
    # The stitched returns are each fold's returns, with a zero on each restart day.
    r = out[1:] / out[:-1] - 1
    np.testing.assert_allclose(r, [0.1, -0.1, 0.0, 0.1, 0.1, -0.5, 0.0, 1.0], atol=1e-15)


def _write_fold(root: Path, k: int, dates: list[str], curves: dict[str, list[float]]) -> None:
    d = root / f"job{k}"
    d.mkdir(parents=True)
    pd.DataFrame({"date": dates, **curves}).to_csv(d / "equity.csv", index=False)
    doc = {
        "fold": k,
        "windows": {"test": {"start": dates[0], "end": dates[-1]}},
        "training": {"best_eval": {"score": 0.5}},
        "test": {name: {"sharpe": 0.0, "total_return": v[-1] / v[0] - 1, "trades": 2.0}
                 for name, v in curves.items()},
    }
    (d / "fold.json").write_text(json.dumps(doc))


def test_stitch_reads_fold_folders_and_reports_the_stitched_curve(tmp_path) -> None:
    _write_fold(tmp_path, 1, ["2020-01-06", "2020-01-07", "2020-01-08"],
                {"agent": [100.0, 90.0, 99.0], "buy_and_hold": [100.0, 100.0, 105.0]})
    _write_fold(tmp_path, 0, ["2020-01-01", "2020-01-02", "2020-01-03"],
                {"agent": [100.0, 120.0, 110.0], "buy_and_hold": [100.0, 101.0, 102.0]})
    doc = stitch(tmp_path, n_boot=20)
    eq = pd.read_csv(tmp_path / "equity.csv")
    assert eq["date"].tolist()[0] == "2020-01-01" and eq["fold"].tolist() == [0, 0, 0, 1, 1, 1]
    np.testing.assert_allclose(eq["agent"], [100, 120, 110, 110, 99, 108.9])
    np.testing.assert_allclose(eq["buy_and_hold"], [100, 101, 102, 102, 102, 107.1])
    expected = compute_metrics(np.array([100, 120, 110, 110, 99, 108.9]))
    got = json.loads((tmp_path / "metrics.json").read_text())["strategies"]["agent"]
    assert got["sharpe"] == pytest.approx(expected["sharpe"], abs=1e-12)
    assert got["total_return"] == pytest.approx(0.089, abs=1e-12)
    assert got["trades"] == 4.0 and doc["folds"] == [0, 1]
    assert len(pd.read_csv(tmp_path / "folds.csv")) == 2
    with Image.open(tmp_path / "walkforward.png") as img:
        img.verify()


def test_stitch_refuses_overlapping_test_windows(tmp_path) -> None:
    _write_fold(tmp_path, 0, ["2020-01-01", "2020-01-02"], {"agent": [1.0, 2.0]})
    _write_fold(tmp_path, 1, ["2020-01-02", "2020-01-03"], {"agent": [1.0, 2.0]})
    with pytest.raises(ConfigError, match="data.walk_forward.step_days"):
        stitch(tmp_path)


def test_stitch_of_a_missing_folder_names_it(tmp_path) -> None:
    with pytest.raises(FileNotFoundError, match="nope"):
        stitch(tmp_path / "nope")


def test_orchestration_with_training_replaced(tmp_path) -> None:
    """run_all plans, builds each fold's market, 'trains' (a fake that saves an untrained
    policy as the best checkpoint), backtests the test window and stitches."""
    cfg = wf_cfg()
    seen: list[tuple] = []

    def fake_train(fcfg, market, meta):
        seen.append((dict(market.splits), fcfg.data.splits.val_start, meta["normalizer_state"]))
        space = make_action_space("discrete", market.n_assets)
        policy = make_policy(fcfg, make_obs_builder(fcfg.obs, market), space)
        out = Path(fcfg.trainer.output_dir) / "checkpoints"
        out.mkdir(parents=True)
        state = {f"policy.{k}": v for k, v in policy.state_dict().items()}
        torch.save({"state_dict": state}, out / "best.ckpt")
        return {"checkpoints": {"best": str(out / "best.ckpt")}, "env_steps": 0,
                "best_eval": {"score": 0.1}, "status": "completed"}

    doc = run_all(cfg, tmp_path, train_fn=fake_train)
    plan = plan_folds(cfg)
    assert [s[0] for s in seen] == plan.folds
    assert seen[0][2] != seen[1][2]  # each fold fits its own normalizer
    assert doc["folds"] == [0, 1]
    eq = pd.read_csv(tmp_path / "equity.csv")
    test0, test1 = plan.folds[0]["test"], plan.folds[1]["test"]
    assert len(eq) == test0.n_days + test1.n_days
    assert eq["date"].iloc[0] == str(plan.dates[test0.start])
    assert eq["date"].iloc[-1] == str(plan.dates[test1.stop - 1])
    fold1 = json.loads((tmp_path / "fold_01" / "fold.json").read_text())
    assert fold1["windows"]["val"]["start_index"] - fold1["windows"]["train"]["stop_index"] == 5
    for name in ("agent", "buy_and_hold", "index"):
        assert name in doc["strategies"]
    # The fold's buy-and-hold continues from where the previous fold's ended.
    f0 = pd.read_csv(tmp_path / "fold_00" / "equity.csv")
    assert eq["buy_and_hold"].iloc[test0.n_days] == pytest.approx(f0["buy_and_hold"].iloc[-1])


def test_a_fold_checkpoints_config_rebuilds_the_exact_fold_windows(tmp_path) -> None:
    """The data.splits a fold trains with (and its checkpoints carry) give back the fold's
    windows exactly, embargo days in no split: a later backtest of a fold checkpoint on
    split=val trades the fold's validation days only."""
    from ploutos.pipeline import build_market

    cfg = wf_cfg("data.walk_forward.embargo_days=7")
    plan = plan_folds(cfg)
    fold = plan.folds[1]
    assert fold["val"].start - fold["train"].stop == 7  # the embargo is a real gap
    _, report = build_market(fold_config(cfg, plan, 1, tmp_path))
    assert report.splits == fold
