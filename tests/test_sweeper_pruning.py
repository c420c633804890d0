"""TrialPruning inside real training runs (the app's `callbacks=` hook, a toy market): it
reports each evaluation's eval/sharpe to the trial, stops the run when the study's pruner
says so, and the run keeps its checkpoints and summary (marked `pruned` by the sweeper)."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import optuna
import pytest
from conftest import compose_config, make_toy_market
from omegaconf import DictConfig
from optuna.distributions import FloatDistribution
from optuna.trial import TrialState, create_trial

from ploutos.apps.train import train
from ploutos.errors import ConfigError
from ploutos.sweeper.config import PRUNED_ATTR, PRUNER_ATTR, RUN_DIR_ATTR
from ploutos.sweeper.outcome import mark_pruned
from ploutos.sweeper.pruning import TrialPruning
from ploutos.sweeper.storage import open_storage, resolve_storage

BATCH = 16 * 32  # smoke preset: env steps per iteration
SPACE = {"ent_coef": FloatDistribution(0.0, 1.0)}


def _cfg(out: Path) -> DictConfig:
    return compose_config(
        "train",
        [
            "experiment=smoke",
            f"trainer.output_dir={out}",
            "total_timesteps=2048",
            "eval_freq=512",
            "checkpoint_freq=4096",
        ],
    )


@pytest.fixture(scope="module")
def market():
    return make_toy_market(n_days=400, n_assets=3, n_features=5, seed=3)


def _study(tmp_path: Path, rival: float, direction: str = "maximize") -> tuple[str, optuna.Study]:
    """A study holding one completed rival trial whose every evaluation scored `rival`, a
    median pruner that may act from the second evaluation on, and one trial asked for."""
    location = resolve_storage(f"sqlite:///{tmp_path / 'study.db'}", tmp_path)
    study = optuna.create_study(study_name="s", storage=open_storage(location), direction=direction)
    study.set_user_attr(PRUNER_ATTR, {"name": "median", "n_startup_trials": 1, "n_warmup_evals": 1})
    study.add_trial(
        create_trial(
            params={"ent_coef": 0.1},
            distributions=SPACE,
            value=rival,
            intermediate_values={step: rival for step in range(4)},
        )
    )
    study.ask(SPACE)
    return location, study


def _eval_sharpes(run_dir: Path) -> list[float]:
    with (run_dir / "csv" / "metrics.csv").open() as fh:
        return [float(r["eval/sharpe"]) for r in csv.DictReader(fh) if r.get("eval/sharpe")]


def test_a_trial_behind_the_median_is_pruned_at_its_second_evaluation(tmp_path, market):
    location, study = _study(tmp_path, rival=1e6)
    callback = TrialPruning("s", location, trial_number=1)
    summary = train(_cfg(tmp_path / "run"), market, callbacks=[callback])

    trial = study.trials[1]
    # Warm-up: the first evaluation (step 0) is never pruned; the second one is.
    assert callback.pruned_at is not None and callback.pruned_at["eval"] == 1
    assert trial.user_attrs[PRUNED_ATTR] == callback.pruned_at
    assert summary["env_steps"] == 2 * BATCH and summary["n_evals"] == 2
    # What was reported is what the evaluations logged.
    sharpes = _eval_sharpes(tmp_path / "run")
    assert [trial.intermediate_values[s] for s in (0, 1)] == pytest.approx(sharpes)
    assert callback.pruned_at["score"] == pytest.approx(sharpes[1])
    assert trial.user_attrs[RUN_DIR_ATTR] == str((tmp_path / "run").resolve())
    assert (tmp_path / "run" / "checkpoints" / "last.ckpt").is_file()

    # The sweeper then marks the summary and tells Optuna.
    mark_pruned(tmp_path / "run", callback.pruned_at, trial_number=1)
    marked = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert marked["status"] == "pruned" and marked["pruned"]["trial"] == 1
    assert marked["env_steps"] == summary["env_steps"]
    study.tell(1, state=TrialState.PRUNED)
    assert study.trials[1].state == TrialState.PRUNED
    assert study.trials[1].value == pytest.approx(sharpes[1])


def test_a_trial_ahead_of_the_median_runs_to_the_end(tmp_path, market):
    location, study = _study(tmp_path, rival=-1e6)
    callback = TrialPruning("s", location, trial_number=1)
    summary = train(_cfg(tmp_path / "run"), market, callbacks=[callback])
    trial = study.trials[1]
    assert callback.pruned_at is None and PRUNED_ATTR not in trial.user_attrs
    assert summary["status"] == "completed" and summary["env_steps"] == 2048
    assert list(trial.intermediate_values) == [0, 1, 2, 3]
    reported = list(trial.intermediate_values.values())
    assert reported == pytest.approx(_eval_sharpes(tmp_path / "run"))
    assert trial.intermediate_values[3] == pytest.approx(summary["final_eval"]["eval/sharpe"])


def test_study_direction_must_agree_with_the_trainer_mode(tmp_path, market):
    location, _ = _study(tmp_path, rival=0.0, direction="minimize")
    with pytest.raises(ConfigError, match="trainer.mode"):
        train(_cfg(tmp_path / "run"), market, callbacks=[TrialPruning("s", location, 1)])
