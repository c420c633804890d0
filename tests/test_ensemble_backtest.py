"""Ensembles of tiny trained checkpoints: copies of one checkpoint backtest exactly as it
does, best_val's pick reads no day of the trading window, the backtest, compare and
importance apps take `ensemble=...` and name the members, a multirun folder gives its top-k
jobs, and bad members are refused with the member and the difference named."""

from __future__ import annotations

import json
import shutil
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import compose_config
from test_backtest_checkpoint import tiny_checkpoint

from ploutos.apps.backtest import run as backtest_app
from ploutos.apps.compare import run as compare_app
from ploutos.apps.importance import run as importance_app
from ploutos.ensemble import RULES, EnsembleSpec, build_ensemble, ensemble_for_backtest
from ploutos.ensemble.members import load_members, member_paths, rank_multirun
from ploutos.ensemble.selection import validation_scores, validation_window
from ploutos.errors import ConfigError
from ploutos.evaluation.backtest import AGENT, run_backtest
from ploutos.evaluation.checkpoint import CheckpointError, load_checkpoint

FAST = ("baselines=[buy_and_hold]", "n_boot=50")


@pytest.fixture(scope="module")
def ckpts(tmp_path_factory) -> list[Path]:
    """Three seeds of the policy on the same bars (data.seed pinned)."""
    return [
        tiny_checkpoint(tmp_path_factory.mktemp(f"seed{s}"), f"seed={s}", "data.seed=42")[0]
        for s in (1, 2, 3)
    ]


def spec(rule: str, members, **kw) -> EnsembleSpec:
    return EnsembleSpec(rule=rule, members=members, **kw)


@pytest.fixture(scope="module")
def single(ckpts):
    return run_backtest(load_checkpoint(ckpts[0]), baselines=(), n_boot=50)


@pytest.mark.parametrize("rule", RULES)
def test_copies_of_one_checkpoint_backtest_exactly_as_it(ckpts, single, rule) -> None:
    ensemble = ensemble_for_backtest(spec(rule, [str(ckpts[0])] * 3))
    assert ensemble.market is ensemble.members[1].market  # one market for all members
    result = run_backtest(ensemble, baselines=(), n_boot=50)
    a, b = single.runs[AGENT][0], result.runs[AGENT][0]
    np.testing.assert_array_equal(b.log.actions, a.log.actions)
    np.testing.assert_array_equal(b.equity, a.equity)
    np.testing.assert_array_equal(b.log.filled_shares, a.log.filled_shares)
    assert result.metrics[AGENT]["trades"] == single.metrics[AGENT]["trades"] > 0


def test_best_val_pick_reads_no_day_of_the_trading_window(ckpts) -> None:
    members = load_members(ckpts)
    market = members[0].market
    cutoff = market.split("test").start
    window = validation_window(market, "val", cutoff)
    assert window.stop <= cutoff
    scores = validation_scores(members, window)
    assert len(set(scores)) == 3  # three different members, three different Sharpe ratios

    # Scramble every price and feature from the cutoff on: the scores do not move.
    gen = torch.Generator().manual_seed(0)
    later = slice(cutoff, market.n_days)
    close, fill, features = market.close.clone(), market.fill.clone(), market.features.clone()
    close[later] *= 1 + torch.rand(close[later].shape, generator=gen, dtype=torch.float64)
    fill[later] = close[later] * 0.97
    features[later] = torch.randn(features[later].shape, generator=gen)
    changed = replace(market, close=close, fill=fill, features=features)
    moved = [replace(m, market=changed) for m in members]
    assert validation_scores(moved, window) == scores
    best = build_ensemble(spec("best_val", None), moved, cutoff)
    assert best.policy.weights == [float(s == max(scores)) for s in scores]

    # The same scramble one day inside the validation window does move them.
    inside = slice(window.stop - 30, market.n_days)
    close[inside] = market.close[inside] * (1 + torch.rand(close[inside].shape, generator=gen))
    earlier = replace(market, close=close, fill=close.clone(), features=features)
    assert validation_scores([replace(m, market=earlier) for m in members], window) != scores

    # A window that starts before any validation day leaves nothing to select on.
    with pytest.raises(ConfigError, match="ensemble.val_split: split 'val'.*no days before"):
        validation_window(market, "val", market.split("val").start + 1)


def test_weighted_weights_are_the_softmax_of_validation_sharpe(ckpts) -> None:
    members = load_members(ckpts)
    cutoff = members[0].market.split("test").start
    scores = validation_scores(members, validation_window(members[0].market, "val", cutoff))
    model = build_ensemble(spec("weighted", None, temperature=0.5), members, cutoff)
    expected = np.exp(np.array(scores) / 0.5) / np.exp(np.array(scores) / 0.5).sum()
    np.testing.assert_allclose(model.policy.weights, expected, rtol=1e-12)
    rows = model.doc["members"]
    assert [r["validation_sharpe"] for r in rows] == scores
    assert model.doc["temperature"] == 0.5


def test_backtest_app_names_the_members(ckpts, tmp_path: Path) -> None:
    members = "[" + ",".join(str(p) for p in ckpts) + "]"
    cfg = compose_config("backtest", ["ensemble=vote", f"ensemble.members={members}", *FAST])
    backtest_app(cfg, tmp_path)
    doc = json.loads((tmp_path / "metrics.json").read_text())
    assert doc["model"] == "ensemble:vote"
    assert doc["ensemble"]["rule"] == "vote"
    assert [m["checkpoint"] for m in doc["ensemble"]["members"]] == [str(p) for p in ckpts]
    assert [m["weight"] for m in doc["ensemble"]["members"]] == [1 / 3] * 3
    assert set(doc["strategies"]) == {AGENT, "buy_and_hold"}
    assert "ensemble:vote" in (tmp_path / "report.html").read_text()

    with pytest.raises(ConfigError, match="ckpt: give either ckpt or ensemble.members"):
        backtest_app(compose_config("backtest", ["ensemble=vote", f"ensemble.members={members}",
                                                 f"ckpt={ckpts[0]}"]), tmp_path)  # fmt: skip
    with pytest.raises(ConfigError, match="ensemble.members: give the members"):
        backtest_app(compose_config("backtest", ["ensemble=mean_probs"]), tmp_path)


def test_compare_app_puts_the_ensemble_beside_its_members(ckpts, tmp_path: Path) -> None:
    listed = "[" + ",".join(str(p) for p in ckpts) + "]"
    cfg = compose_config("compare", [f"ckpts={listed}", "ensemble=mean_probs", *FAST])
    compare_app(cfg, tmp_path)
    doc = json.loads((tmp_path / "compare.json").read_text())
    members = [m["name"] for m in doc["ensemble"]["members"]]
    assert doc["models"] == ["ensemble:mean_probs", *members]
    sharpes = [doc["metrics"][name]["sharpe"] for name in members]
    assert doc["members_mean_sharpe"] == pytest.approx(np.mean(sharpes))
    pairs = {(t["a"], t["b"]) for t in doc["tests"]}
    assert {(name, "ensemble:mean_probs") for name in members} <= pairs


def _fake_multirun(root: Path, ckpt: Path, scores: list[float | None]) -> list[Path]:
    """Job folders 0..n-1 as the training app leaves them (summary.json, checkpoints/)."""
    paths = []
    for i, score in enumerate(scores):
        job = root / str(i)
        (job / "checkpoints").mkdir(parents=True)
        path = job / "checkpoints" / "best.ckpt"
        shutil.copy(ckpt, path)
        best = {"monitor": "eval/sharpe", "mode": "max", "score": score}
        summary = {"status": "completed", "checkpoints": {"best": str(path)}, "best_eval": best}
        (job / "summary.json").write_text(json.dumps(summary))
        paths.append(path)
    return paths


def test_multirun_folder_gives_its_top_k_jobs(ckpts, tmp_path: Path) -> None:
    root = tmp_path / "multirun"
    paths = _fake_multirun(root, ckpts[0], [0.5, 1.5, None, 0.9])
    jobs = rank_multirun(root, top_k=2)
    assert [j.checkpoint for j in jobs] == [paths[1], paths[3]]
    assert [j.score for j in jobs] == [1.5, 0.9]

    # A moved multirun folder: the stored paths are stale, the files are in the job folders.
    moved = tmp_path / "moved"
    root.rename(moved)
    found, _ = member_paths(str(moved), top_k=3)
    assert found == [moved / "1/checkpoints/best.ckpt", moved / "3/checkpoints/best.ckpt",
                     moved / "0/checkpoints/best.ckpt"]  # fmt: skip
    model = ensemble_for_backtest(spec("vote", str(moved), top_k=2))
    assert [r["summary_score"] for r in model.doc["members"]] == [1.5, 0.9]
    assert model.doc["multirun_top_k"] == 2

    with pytest.raises(CheckpointError, match="no job with a summary.json"):
        member_paths(str(tmp_path / "moved" / "0" / "checkpoints"), top_k=3)
    with pytest.raises(ConfigError, match="ensemble.members: .* is a folder"):
        member_paths([str(moved), str(ckpts[0])])
    with pytest.raises(ConfigError, match="ensemble.top_k: must be an integer >= 1"):
        member_paths(str(moved), top_k=0)


def test_members_on_other_data_are_refused(ckpts, tmp_path: Path) -> None:
    other, _ = tiny_checkpoint(tmp_path / "other", "seed=1", "data.seed=7")
    with pytest.raises(CheckpointError, match=f"member {other} differs .*data fingerprint"):
        load_members([ckpts[0], other])
    with pytest.raises(ConfigError, match="ensemble.name: must be one of"):
        EnsembleSpec.from_config({"name": "median"})
    with pytest.raises(ConfigError, match="ensemble.temperature: must be a number > 0"):
        EnsembleSpec.from_config({"name": "weighted", "temperature": 0})
    assert EnsembleSpec.from_config({"name": "none"}) is None


def _importance(tmp_path: Path, name: str, *overrides: str) -> dict:
    """importance.json of the app; one unit (every feature in one cluster) keeps it short."""
    out = tmp_path / name
    fast = ["units=[cluster]", "cluster_threshold=1000", "n_repeats=2"]
    importance_app(compose_config("importance", [*overrides, *fast]), out)
    return json.loads((out / "importance.json").read_text())


def test_importance_app_ranks_features_by_the_ensembles_decision(ckpts, tmp_path: Path) -> None:
    """`python importance.py ensemble=...`: copies of one checkpoint score every shuffle
    exactly as the checkpoint alone does; over three members the unshuffled run is the
    ensemble's own backtest, and the members are named."""
    single = _importance(tmp_path, "single", f"ckpt={ckpts[0]}")
    copies = "[" + ",".join([str(ckpts[0])] * 3) + "]"
    same = _importance(tmp_path, "copies", "ensemble=mean_probs", f"ensemble.members={copies}")
    assert same["model"] == "ensemble:mean_probs"
    assert same["baseline_sharpe"] == single["baseline_sharpe"]
    assert len(single["rows"]) == 1 and single["rows"][0]["n_features"] > 5
    for key in ("features", "sharpe_drop_mean", "sharpe_drop_std", "action_change_mean"):
        assert same["rows"][0][key] == single["rows"][0][key]
    assert single["rows"][0]["action_change_mean"] > 0

    members = [str(p) for p in ckpts]
    doc = _importance(tmp_path, "vote", "ensemble=vote", f"ensemble.members=[{','.join(members)}]")
    assert [m["checkpoint"] for m in doc["ensemble"]["members"]] == members
    ensemble = ensemble_for_backtest(spec("vote", members))
    backtest = run_backtest(ensemble, split="test", baselines=(), n_boot=10)
    assert doc["baseline_sharpe"] == pytest.approx(backtest.metrics[AGENT]["sharpe"], abs=1e-12)
    assert doc["baseline_sharpe"] != single["baseline_sharpe"]
    with pytest.raises(ConfigError, match="ckpt: give either ckpt or ensemble.members"):
        importance_app(compose_config("importance", ["ensemble=vote", f"ckpt={ckpts[0]}",
                                                     f"ensemble.members=[{members[0]}]"]),
                       tmp_path / "both")  # fmt: skip
