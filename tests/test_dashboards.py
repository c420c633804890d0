"""Dashboards: one short training with logger=many and W&B offline, read back from wandb's own
run file and TensorBoard's event files; the charts against the engine's numbers; checkpoint
artifacts resolved offline and backtested onto the run that trained them."""

from __future__ import annotations

import base64
import csv
import hashlib
import json
import math
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
import wandb
from conftest import compose_config, make_toy_market
from omegaconf import OmegaConf
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from test_backtest_checkpoint import TINY

import ploutos.apps.backtest as backtest_app
from ploutos.apps.train import run as train_run
from ploutos.dashboards.artifacts import RUN_KEY, parse_reference, resolve_reference
from ploutos.dashboards.charts import TIMING_COLUMNS, EvaluationCharter
from ploutos.dashboards.figure import EquityFigure
from ploutos.dashboards.offline_runs import read_run
from ploutos.errors import ConfigError
from ploutos.evaluation.baselines import random_policy
from ploutos.evaluation.metrics import max_drawdown
from ploutos.evaluation.runner import episode_metrics, run_policy
from ploutos.training.loggers import resolved_container

TICKERS = 3  # TINY's synthetic market
EVALS = 2  # 1,024 env steps, an evaluation every 512


def _offline_env(mp: pytest.MonkeyPatch, root: Path) -> None:
    """W&B offline, with its staging and cache folders inside the test's tmp folder."""
    mp.setenv("WANDB_MODE", "offline")
    mp.setenv("WANDB_SILENT", "true")
    for key in ("WANDB_DATA_DIR", "WANDB_CACHE_DIR", "WANDB_CONFIG_DIR"):
        mp.setenv(key, str(root / key.lower()))


def _md5(path: Path) -> str:
    return base64.b64encode(hashlib.md5(path.read_bytes()).digest()).decode()


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("dashboards")
    out = root / "run"
    with pytest.MonkeyPatch.context() as mp:
        _offline_env(mp, root)
        cfg = compose_config(
            "train",
            [*TINY, f"trainer.output_dir={out}", "logger=many", "total_timesteps=1024",
             "eval_freq=512", "trainer.select=best"],  # the counter below tracks eval/sharpe
        )  # fmt: skip
        train_run(cfg)
        wandb.teardown()  # as at the process's exit: the run file is complete on disk
    return out


def _wandb_run(run_dir: Path):
    (path,) = run_dir.glob("wandb/offline-run-*/run-*.wandb")
    return read_run(path)


def _csv_rows(run_dir: Path) -> list[dict[str, str]]:
    return list(csv.DictReader((run_dir / "csv" / "metrics.csv").open()))


def _eval_days(run_dir: Path) -> int:
    """Fill days of one validation episode (eval/days counts its daily returns)."""
    days = {float(r["eval/days"]) for r in _csv_rows(run_dir) if r.get("eval/days")}
    (value,) = days
    return int(value)


def _table(run, row: dict, key: str) -> dict:
    return json.loads((run.path.parent / "files" / row[key]["path"]).read_text())


def test_wandb_run_file_holds_images_histograms_tables_and_line_plot(trained: Path) -> None:
    run = _wandb_run(trained)
    days = _eval_days(trained)
    media = [row for row in run.history if "eval_val/equity" in row]
    assert len(media) == EVALS
    for row in media:
        image = row["eval_val/equity"]
        assert image["_type"] == "image-file" and (image["width"], image["height"]) == (640, 360)
        png = run.path.parent / "files" / image["path"]
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        curve = _table(run, row, "eval_val/equity_curve_table")  # the line plot's series
        assert curve["columns"] == ["step", "lineKey", "lineVal"]
        agent = [r[2] for r in curve["data"] if r[1] == "agent"]
        held = [r[2] for r in curve["data"] if r[1] == "buy and hold"]
        assert len(agent) == len(held) == days + 1
        assert agent[0] == held[0] == 100_000.0  # both start in cash
        tickers = _table(run, row, "eval_val/tickers")
        assert tickers["columns"] == ["ticker", "HOLD", "BUY", "SELL", *TIMING_COLUMNS[1:]]
        assert len(tickers["data"]) == TICKERS
        for ticker_row in tickers["data"]:
            ticker, counts = ticker_row[0], ticker_row[1:4]
            assert sum(counts) == days  # one action per fill day
            hist = row[f"eval_val/actions/{ticker}"]
            assert hist["_type"] == "histogram" and hist["values"] == counts
            good, bad, quality = ticker_row[4], ticker_row[5], ticker_row[7]
            assert quality == pytest.approx(good / (good + bad) if good + bad else 0.0)
    evals = [r for r in _csv_rows(trained) if r.get("eval/buy_good")]
    totals = [sum(r[4] for r in _table(run, row, "eval_val/tickers")["data"]) for row in media]
    assert totals == [float(r["eval/buy_good"]) for r in evals]  # per ticker adds up


def test_sb3_names_sit_beside_the_algorithms_own(trained: Path) -> None:
    run = _wandb_run(trained)
    rows = [row for row in run.history if "train/entropy" in row]
    assert len(rows) == 2  # one per iteration
    for row in rows:
        assert row["train/entropy_loss"] == pytest.approx(-row["train/entropy"])
        assert row["time/total_timesteps"] == row["train/env_steps"]
        assert row["train/learning_rate"] == row["train/lr"]
        ours, sb3 = row["train/episode_return"], row["rollout/ep_rew_mean"]
        assert ours == pytest.approx(sb3, nan_ok=True)  # NaN before the first finished episode
    assert any(math.isfinite(r["rollout/ep_rew_mean"]) for r in rows)


def test_eval_rows_carry_the_train_eval_gap_and_the_stopping_counter(trained: Path) -> None:
    rows = _csv_rows(trained)
    evals = [r for r in rows if r.get("eval/sharpe")]
    assert len(evals) == EVALS
    sharpes = [float(r["eval/sharpe"]) for r in evals]
    counters = [float(r["early_stopping/evals_since_best"]) for r in evals]
    assert counters == [0.0, 0.0 if sharpes[1] > sharpes[0] else 1.0]
    assert float(evals[-1]["early_stopping/best_score"]) == pytest.approx(max(sharpes))
    # The last evaluation follows an iteration that finished episodes: the gap is known.
    last = evals[-1]
    train_row = next(
        r for r in rows if r.get("train/episode_return") and float(r["train/env_steps"]) == 1024
    )
    per_step = float(train_row["train/episode_return"]) / float(train_row["train/episode_length"])
    assert float(last["eval/train_mean_reward"]) == pytest.approx(per_step)
    gap = per_step - float(last["eval/mean_reward"])
    assert float(last["eval/train_eval_gap"]) == pytest.approx(gap)
    assert float(last["eval/train_eval_gap_ratio"]) == pytest.approx(gap / abs(per_step))


def test_checkpoints_are_artifacts_with_best_and_latest(trained: Path) -> None:
    run = _wandb_run(trained)
    models = [a for a in run.artifacts if a.type == "model"]
    assert {a.name for a in models} == {f"model-{run.run_id}"}
    by_alias = {alias: a for a in models for alias in a.aliases}
    assert {"best", "latest"} <= set(by_alias)
    ckpt = trained / "checkpoints"
    for alias, file in (("best", "best.ckpt"), ("latest", "last.ckpt")):
        artifact = by_alias[alias]
        assert artifact.metadata["checkpoint"] == str((ckpt / file).resolve())
        assert artifact.entries[0].digest == _md5(ckpt / file)
        saved = torch.load(ckpt / file, weights_only=True)
        assert artifact.metadata["data_fingerprint"] == saved["market_meta"]["fingerprint"]
        assert artifact.metadata["config"]["total_timesteps"] == 1024
        assert saved[RUN_KEY]["id"] == run.run_id
    assert by_alias["best"].metadata["best_env_steps"] == torch.load(
        ckpt / "best.ckpt", weights_only=True
    )["env_steps"]


def test_tensorboard_events_hold_the_same_images_histograms_and_tables(trained: Path) -> None:
    events = EventAccumulator(
        str(trained / "tensorboard"), size_guidance={"images": 0, "histograms": 0, "tensors": 0}
    )
    events.Reload()
    tags = events.Tags()
    days = _eval_days(trained)
    assert tags["images"] == ["eval_val/equity"]
    images = events.Images("eval_val/equity")
    assert len(images) == EVALS and (images[0].width, images[0].height) == (640, 360)
    tickers = [t.removeprefix("eval_val/actions/") for t in tags["histograms"]]
    assert len(tickers) == TICKERS
    for tag in tags["histograms"]:
        assert [h.histogram_value.num for h in events.Histograms(tag)] == [days] * EVALS
    table = events.Tensors("eval_val/tickers/text_summary")[-1].tensor_proto.string_val[0]
    assert b"| ticker | HOLD | BUY | SELL | buy_good |" in table
    assert all(f"| {t} |".encode() in table for t in tickers)
    for name in ("rollout/ep_rew_mean", "train/entropy_loss", "eval/train_eval_gap",
                 "early_stopping/evals_since_best"):  # fmt: skip
        assert name in tags["scalars"], name


@pytest.mark.parametrize("mode", ["discrete", "weights"])
def test_charts_agree_with_the_engine(mode: str) -> None:
    market = make_toy_market(n_days=200, n_assets=3, seed=5)
    cfg = compose_config("train", ["experiment=smoke", f"env.action_mode={mode}"])
    cfg = OmegaConf.create(resolved_container(cfg))
    from ploutos.env.actions import make_action_space

    space = make_action_space(mode, market.n_assets)
    log = run_policy(random_policy(space, seed=1), market, cfg, "val")
    rng_before = torch.random.get_rng_state()
    charts = EvaluationCharter(market, cfg, "val")(log)
    # It runs beside training on the dashboards' thread: it must not draw from torch's RNG.
    assert torch.equal(torch.random.get_rng_state(), rng_before)
    metrics = episode_metrics(log, market)

    assert charts.drawdown.min() == pytest.approx(max_drawdown(log.equity[:, 0]))
    assert charts.buy_and_hold is not None and charts.buy_and_hold[0] == log.equity[0, 0]
    assert sum(r[1] for r in charts.timing_rows) == metrics["buy_good"]
    assert sum(r[6] for r in charts.timing_rows) == metrics["sell_bad"]
    if mode == "discrete":
        for a, row in enumerate(charts.action_rows):
            assert row[1:] == np.bincount(log.actions[:, 0, a], minlength=3).tolist()
    else:
        weights = np.stack(list(charts.actions.values()), axis=1)  # [D, A + 1]
        np.testing.assert_allclose(weights.sum(axis=1), 1.0)
        assert sum(r[1] for r in charts.action_rows) == pytest.approx(1.0)
    assert len(charts.ticker_rows()) == len(charts.action_rows)
    assert all(len(r) == len(charts.ticker_columns()) for r in charts.ticker_rows())
    figure = EquityFigure()
    pixels = figure.pixels(charts, "test")
    assert pixels.shape == (360, 640, 3) and pixels.std() > 0
    # The kept figure drawn again with other data: the new curve, not the old one on top.
    moved = replace(charts, equity=charts.equity * 1.5, drawdown=charts.drawdown * 0.5)
    again = figure.pixels(moved, "test")
    assert np.array_equal(EquityFigure().pixels(moved, "test"), again)
    assert not np.array_equal(again, pixels)


def test_artifact_references_resolve_offline(trained: Path) -> None:
    run = _wandb_run(trained)
    name = f"model-{run.run_id}"
    best = trained / "checkpoints" / "best.ckpt"
    last = trained / "checkpoints" / "last.ckpt"
    assert resolve_reference(f"wandb:{name}:best", [trained], online=False) == best.resolve()
    assert resolve_reference(f"wandb:me/ploutos/{name}:latest", [trained], False) == last.resolve()
    assert resolve_reference(f"wandb:{name}", [trained], False) == last.resolve()
    # A later run overwrote the file: the reference still means the bytes that were logged.
    original = best.read_bytes()
    try:
        best.write_bytes(b"overwritten")
        staged = resolve_reference(f"wandb:{name}:best", [trained], online=False)
        assert staged != best.resolve() and staged.read_bytes() == original
    finally:
        best.write_bytes(original)
    with pytest.raises(ConfigError, match="no local copy of W&B artifact model-nope:best"):
        resolve_reference("wandb:model-nope:best", [trained], online=False)
    assert parse_reference("wandb:e/p/model-x:v3") == ("e/p", "model-x", "v3")
    with pytest.raises(ConfigError, match="ckpt"):
        parse_reference("wandb::best")


def test_backtest_of_an_artifact_logs_its_report_to_the_training_run(
    trained: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _offline_env(monkeypatch, tmp_path)
    run = _wandb_run(trained)
    out = tmp_path / "backtest"
    cfg = compose_config(
        "backtest",
        [f"ckpt=wandb:model-{run.run_id}:best", f"artifact_dirs=[{trained}]",
         "baselines=[buy_and_hold]", "n_boot=50", f"output_dir={out}"],
    )  # fmt: skip
    files = backtest_app.run(cfg, out)
    wandb.teardown()  # what the process's exit does: wandb's service flushes the run file
    document = json.loads(files["metrics"].read_text())
    assert document["checkpoint"] == str((trained / "checkpoints" / "best.ckpt").resolve())

    (path,) = out.glob(f"wandb/offline-run-*/run-{run.run_id}.wandb")
    resumed = read_run(path)
    assert resumed.run_id == run.run_id
    summary = resumed.summary
    agent = document["strategies"]["agent"]
    assert summary["backtest_test/sharpe"] == pytest.approx(agent["sharpe"])
    assert summary["backtest_test/total_return"] == pytest.approx(agent["total_return"])
    assert summary["backtest_test/metrics_table"]["_type"] == "table-file"
    assert summary["backtest_test/metrics_table"]["nrows"] == 2  # agent and buy-and-hold
    assert summary["backtest_test/trades_table"]["nrows"] == agent["trades"]
    assert summary["backtest_test/equity_table"]["nrows"] == document["windows"][0]["steps"] + 1
    for image in ("equity", "drawdown", "trades", "timing"):
        assert summary[f"backtest_test/{image}_image"]["_type"] == "image-file"
    assert not math.isnan(summary["backtest_test/sharpe"])
