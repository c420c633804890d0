"""The issue's proof on the real training app (slow: ~2 min on 2 cores): an 8-trial study of
train.py on synthetic data with a median pruner, resumed with two trials in parallel on the
joblib launcher, and the best trial rerun alone."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState

from ploutos.studies import build_report

REPO = Path(__file__).resolve().parent.parent
# Four evaluations per trial (every 512 of 2,048 env steps), so a trial can be stopped at
# its second, third or fourth.
RUN = [
    "experiment=smoke",
    "data=synthetic",
    "features=minimal",
    "total_timesteps=2048",
    "eval_freq=512",
    "checkpoint_freq=4096",
]
SEARCH = [
    "hydra/sweeper=ppo_search",
    "hydra.sweeper.params=null",
    "ent_coef=interval(0.0,1.0)",
    "algo.learning_rate=tag(log,interval(1e-5,1e-2))",
    "hydra.sweeper.pruner.name=median",
    "hydra.sweeper.pruner.n_startup_trials=2",
    "hydra.sweeper.pruner.n_warmup_evals=1",
]


def _train(*args: str) -> None:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    out = subprocess.run(
        [sys.executable, "train.py", *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=900,
        env=env,
    )
    assert out.returncode == 0, out.stderr[-4000:]


@pytest.mark.slow
def test_pruned_study_of_the_training_app_resumes_and_its_best_trial_reproduces(tmp_path):
    storage = f"sqlite:///{tmp_path / 'study.db'}"
    first, second = tmp_path / "m1", tmp_path / "m2"
    _train("-m", *RUN, *SEARCH, "hydra.sweeper.n_trials=8", f"hydra.sweeper.storage={storage}",
           f"hydra.sweep.dir={first}")  # fmt: skip
    study = optuna.load_study(study_name="ppo_search", storage=storage)
    assert len(study.trials) == 8
    pruned = study.get_trials(states=(TrialState.PRUNED,))
    assert pruned, "no trial was pruned"
    for t in study.trials:
        run_dir = Path(t.user_attrs["run_dir"])
        summary = json.loads((run_dir / "summary.json").read_text())
        assert (run_dir / "checkpoints" / "last.ckpt").is_file()
        assert summary["n_evals"] == len(t.intermediate_values)
        if t.state == TrialState.PRUNED:
            assert summary["status"] == "pruned" and 1 <= summary["pruned"]["eval"] <= 3
            assert summary["env_steps"] == 512 * (summary["pruned"]["eval"] + 1) < 2048
        else:
            assert t.state == TrialState.COMPLETE and summary["status"] == "completed"
            assert summary["env_steps"] == 2048 and t.value == summary["best_eval"]["score"]

    _train("-m", *RUN, *SEARCH, "hydra.sweeper.n_trials=2", "hydra.sweeper.n_jobs=2",
           "hydra/launcher=local_parallel", "hydra.launcher.n_jobs=2",
           f"hydra.sweeper.storage={storage}", f"hydra.sweep.dir={second}")  # fmt: skip
    study = optuna.load_study(study_name="ppo_search", storage=storage)
    assert [t.number for t in study.trials] == list(range(10))
    assert all(t.state.is_finished() and t.state != TrialState.FAIL for t in study.trials)
    assert sorted(p.parent.name for p in second.glob("*/summary.json")) == ["0", "1"]

    best = study.best_trial
    params = [f"{k}={v!r}" for k, v in best.params.items()]
    _train(*RUN, *params, f"hydra.run.dir={tmp_path / 'alone'}")
    alone = json.loads((tmp_path / "alone" / "summary.json").read_text())
    assert alone["best_eval"]["score"] == pytest.approx(best.value, rel=1e-9)

    report = build_report(first)
    n_tried = len(study.get_trials(states=(TrialState.COMPLETE, TrialState.PRUNED)))
    assert report.verdict["dsr_n_trials"] == n_tried == 10
    assert (report.jobs["status"] == "pruned").sum() == len(pruned)
