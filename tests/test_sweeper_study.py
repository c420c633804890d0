"""The sweeper end to end through Hydra (in this process, Hydra's sweep runner), on a
stand-in training task that runs in milliseconds: plugin discovery, pruning at evaluations,
pruned summaries, SQLite resume, a Pareto study and the study report.

The stand-in keeps the training app's contract: it instantiates `cfg.callbacks` (where the
sweeper puts TrialPruning), evaluates through the real EnvStepEvaluation callback, stops when
a callback sets `should_stop`, writes summary.json and returns the best eval/sharpe. Its
score at evaluation k is x * (k + 1), so a low x falls behind the median from its second
evaluation on. tests/test_sweeper_training.py (slow) runs the same proof on train.py itself,
with the joblib launcher.
"""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import optuna
import pandas as pd
import pytest
import torch
import yaml
from hydra.core.hydra_config import HydraConfig
from hydra.utils import instantiate
from omegaconf import DictConfig
from optuna.trial import TrialState

from ploutos.errors import ConfigError
from ploutos.io import atomic_write_json
from ploutos.studies import build_report
from ploutos.training.callbacks import EnvStepEvaluation


def fake_training(cfg: DictConfig) -> float | None:
    """The training app's contract on a score of x * (k + 1) at evaluation k."""
    out = Path(cfg.get("output_dir") or HydraConfig.get().runtime.output_dir)
    x = float(cfg.x)
    scores = iter([x * (k + 1) for k in range(cfg.n_evals)])
    evaluation = EnvStepEvaluation(
        lambda policy: {"sharpe": next(scores), "max_drawdown": -((x - 0.5) ** 2), "days": 500},
        every=100,
        total_timesteps=100 * cfg.n_evals,
    )
    callbacks = [instantiate(node) for node in (cfg.get("callbacks") or {}).values()]
    trainer = SimpleNamespace(
        callbacks=[evaluation, *callbacks],
        is_global_zero=True,
        strategy=SimpleNamespace(broadcast=lambda obj, src=0: obj),
        default_root_dir=str(out),
        should_stop=False,
        loggers=[],
        callback_metrics={},
    )
    module = SimpleNamespace(device=torch.device("cpu"), policy=None, env_steps=0)
    for cb in callbacks:
        cb.on_fit_start(trainer, module)
    while module.env_steps < evaluation.total_timesteps and not trainer.should_stop:
        module.env_steps += 100
        evaluation.run_evaluation(trainer, module, module.env_steps)
        for cb in callbacks:
            cb.on_train_batch_end(trainer, module, None, None, 0)
    summary = {
        "status": "completed",
        "env_steps": module.env_steps,
        "n_evals": evaluation.n_evals,
        "final_eval": {"env_steps": module.env_steps, **evaluation.last_metrics},
        "best_eval": {"score": evaluation.best_score, "metrics": evaluation.best_metrics},
    }
    atomic_write_json(out / "summary.json", summary)
    return evaluation.best_score


CONFIG = {
    "defaults": [{"override hydra/sweeper": "ploutos_optuna"}, "_self_"],
    "x": 0.5,
    "n_evals": 4,
    "callbacks": {},
    "hydra": {
        "job": {"chdir": False},
        "sweeper": {
            "study_name": "fake",
            "n_trials": 8,
            "sampler": {"name": "random", "seed": 0},
            "pruner": {"name": "median", "n_startup_trials": 2, "n_warmup_evals": 1},
            "params": {"x": "interval(0.0, 1.0)"},
        },
    },
}


@pytest.fixture
def sweep(tmp_path: Path, hydra_sweep_runner):
    """sweep(folder, *overrides): one multirun of fake_training under the sweeper."""
    (tmp_path / "fake.yaml").write_text(yaml.safe_dump(CONFIG))

    def run(folder: Path, *overrides: str) -> None:
        runner = hydra_sweep_runner(
            calling_file=__file__,
            calling_module=None,
            task_function=fake_training,
            config_path=str(tmp_path),
            config_name="fake",
            overrides=list(overrides),
            temp_dir=folder,
        )
        # Entering runs the sweep; leaving would delete the folder the test reads.
        runner.__enter__()

    return run


def _summaries(sweep_dir: Path) -> dict[int, dict]:
    found = {}
    for path in sweep_dir.glob("*/summary.json"):
        overrides = yaml.safe_load((path.parent / ".hydra" / "overrides.yaml").read_text())
        number = next(o for o in overrides if "optuna_trial.trial_number=" in o)
        found[int(number.split("=")[1])] = json.loads(path.read_text())
    return found


def test_pruned_study_resumes_and_reports(tmp_path: Path, sweep):
    storage = f"sqlite:///{tmp_path / 'study.db'}"
    first, second = tmp_path / "sweep1", tmp_path / "sweep2"
    sweep(first, f"hydra.sweeper.storage={storage}")
    study = optuna.load_study(study_name="fake", storage=storage)
    trials = study.trials
    assert len(trials) == 8 and all(t.state.is_finished() for t in trials)
    pruned = [t for t in trials if t.state == TrialState.PRUNED]
    complete = [t for t in trials if t.state == TrialState.COMPLETE]
    assert pruned and len(complete) >= 2

    summaries = _summaries(first)
    assert sorted(summaries) == list(range(8))
    for t in trials:
        s = summaries[t.number]
        x = t.params["x"]
        if t.state == TrialState.PRUNED:
            # Stopped at an evaluation after the warm-up one, behind the completed median.
            stop = s["pruned"]["eval"]
            assert s["status"] == "pruned" and stop >= 1 and s["n_evals"] == stop + 1
            assert s["env_steps"] == 100 * (stop + 1) and s["pruned"]["trial"] == t.number
            assert t.value == pytest.approx(x * (stop + 1))
        else:
            assert s["status"] == "completed" and s["n_evals"] == 4
            assert t.value == pytest.approx(4 * x) == s["best_eval"]["score"]
        expected = {k: x * (k + 1) for k in range(s["n_evals"])}
        assert t.intermediate_values == pytest.approx(expected)
        assert Path(t.user_attrs["run_dir"]).parent == first

    best = study.best_trial
    results = yaml.safe_load((first / "optimization_results.yaml").read_text())
    assert results["best_trial"] == best.number and results["best_value"] == best.value

    # The same command again: the study grows by n_trials, numbering on.
    sweep(second, f"hydra.sweeper.storage={storage}", "hydra.sweeper.n_trials=2")
    study = optuna.load_study(study_name="fake", storage=storage)
    assert [t.number for t in study.trials] == list(range(10))
    assert all(t.state.is_finished() for t in study.trials)
    assert sorted(_summaries(second)) == [8, 9]
    # The resumed sampler did not draw the first run's values again.
    assert {t.params["x"] for t in study.trials[8:]}.isdisjoint(t.params["x"] for t in trials)

    # The best trial's parameters alone (no sweeper, no callback) reproduce its score.
    alone = tmp_path / "alone"
    cfg = DictConfig({"x": study.best_params["x"], "n_evals": 4, "output_dir": str(alone)})
    assert fake_training(cfg) == pytest.approx(study.best_value)

    report = build_report(first)
    n_pruned = len(study.get_trials(states=(TrialState.PRUNED,)))
    n_complete = len(study.get_trials(states=(TrialState.COMPLETE,)))
    jobs = report.jobs
    assert (jobs["status"] == "pruned").sum() == len(pruned)
    # N counts every trial of the study that produced a Sharpe, pruned ones included, though
    # this folder holds only the first eight; a pruned trial cannot be the winner.
    assert report.verdict["dsr_n_trials"] == n_complete + n_pruned == 10
    assert report.verdict["n_pruned"] == len(pruned)
    winner = jobs[jobs["config"] == report.verdict["best_config"]]
    assert list(winner["status"]) == ["completed"]
    text = report.paths["markdown"].read_text()
    assert f"{n_pruned} pruned" in text and f"Best trial: {study.best_trial.number}" in text
    for t in pruned:
        assert f"- trial {t.number}: stopped after" in text
    assert "callbacks.optuna_trial" not in " ".join(report.configs["config"])
    assert report.paths["optuna_history"].stat().st_size > 5_000
    table = pd.read_csv(report.paths["optuna_trials"])
    assert len(table) == 10 and set(table["state"]) == {"complete", "pruned"}
    doc = json.loads(report.paths["optuna"].read_text())
    assert doc["best_trial"]["params"] == study.best_trial.params
    assert doc["objectives"] == ["best score"] and set(doc["importances"]["best score"]) == {"x"}


def test_pareto_study_reports_its_front(tmp_path: Path, sweep):
    folder = tmp_path / "pareto"
    sweep(
        folder,
        "hydra.sweeper.pruner.name=none",
        "hydra.sweeper.n_trials=6",
        "hydra.sweeper.direction=[maximize,maximize]",
        "hydra.sweeper.metrics=[eval/sharpe,eval/max_drawdown]",
    )
    study = optuna.load_study(study_name="fake", storage=f"sqlite:///{folder / 'optuna.db'}")
    assert len(study.trials) == 6 and all(t.state == TrialState.COMPLETE for t in study.trials)
    for t in study.trials:
        x = t.params["x"]
        assert t.values == pytest.approx([4 * x, -((x - 0.5) ** 2)])
    # Sharpe grows with x and the drawdown is smallest at x = 0.5: the front is x >= 0.5.
    front = {t.number for t in study.trials if t.params["x"] >= 0.5}
    assert {t.number for t in study.best_trials} == front
    report = build_report(folder)
    doc = json.loads(report.paths["optuna"].read_text())
    assert {p["trial"] for p in doc["pareto_front"]} == front
    assert report.paths["optuna_pareto"].stat().st_size > 5_000
    assert "Pareto front" in report.paths["markdown"].read_text()


def test_a_bad_sweep_config_fails_before_any_trial(tmp_path: Path, sweep):
    folder = tmp_path / "grid"
    with pytest.raises(ConfigError, match="the grid sampler needs choice"):
        sweep(folder, "hydra.sweeper.sampler.name=grid")
    assert not (folder / "0").exists()
