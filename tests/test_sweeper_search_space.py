"""Hydra sweep syntax -> Optuna distributions, trial overrides, samplers, pruners, storage."""

from __future__ import annotations

from pathlib import Path

import optuna
import pytest
from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution
from optuna.samplers import CmaEsSampler, GridSampler, RandomSampler, TPESampler
from optuna.trial import create_trial

from ploutos.errors import ConfigError
from ploutos.sweeper.search_space import parse_search_space
from ploutos.sweeper.storage import open_storage, resolve_storage
from ploutos.sweeper.strategies import AfterStartupTrials, make_pruner, make_sampler
from ploutos.sweeper.study_loop import SweepSettings, callback_overrides

PRESET = {
    "algo.learning_rate": "tag(log, interval(1e-5, 1e-3))",
    "ent_coef": "interval(0.0, 0.15)",
    "algo.n_steps": "choice(32, 64, 128)",
    "model.hidden_sizes": "choice('[32,32]', '[64,64]')",
}


def test_the_presets_syntax_becomes_optuna_distributions():
    space = parse_search_space(
        PRESET, ["seed=3", "+arm=v6_mlp", "algo.update_epochs=tag(int, interval(2, 8))"]
    )
    d = space.distributions
    assert d["algo.learning_rate"] == FloatDistribution(1e-5, 1e-3, log=True)
    assert d["ent_coef"] == FloatDistribution(0.0, 0.15)
    assert d["algo.n_steps"] == CategoricalDistribution([32, 64, 128])
    assert d["model.hidden_sizes"] == CategoricalDistribution(["[32,32]", "[64,64]"])
    assert d["algo.update_epochs"] == IntDistribution(2, 8)
    assert space.fixed == ["seed=3", "+arm=v6_mlp"]
    params = {"ent_coef": 0.05, "model.hidden_sizes": "[64,64]"}
    assert space.overrides_for(params) == [
        "seed=3",
        "+arm=v6_mlp",
        "ent_coef=0.05",
        "model.hidden_sizes=[64,64]",
    ]


def test_command_line_replaces_a_preset_key_and_ranges_are_integer_steps():
    space = parse_search_space(PRESET, ["ent_coef=0.1", "algo.n_envs=range(16, 65, 16)"])
    assert "ent_coef" not in space.distributions and "ent_coef=0.1" in space.fixed
    assert space.distributions["algo.n_envs"] == IntDistribution(16, 64, step=16)
    assert parse_search_space(None, ["n=range(16, 65, 16)"]).grid() == {"n": [16, 32, 48, 64]}


@pytest.mark.parametrize(
    ("params", "match"),
    [
        ({"a": "interval(1.0, 1.0)"}, "start < end"),
        ({"a": "tag(cube, interval(0, 1))"}, "unknown interval tag"),
        ({"a": "tag(int, interval(0.5, 3))"}, "integer bounds"),
        ({"a": "shuffle(choice(1, 2))"}, "shuffle"),
        ({"a": "3"}, "nothing to search"),
    ],
)
def test_bad_search_spaces_name_the_key(params, match):
    with pytest.raises(ConfigError, match=match):
        parse_search_space(params, [])


def test_samplers_are_seeded_and_a_resumed_study_draws_new_values():
    space = parse_search_space({"x": "interval(0.0, 1.0)"}, [])

    def first_draws(sampler):
        study = optuna.create_study(sampler=sampler)
        return [study.ask(space.distributions).params["x"] for _ in range(3)]

    spec = {"name": "random", "seed": 7}
    assert first_draws(make_sampler(spec, space, 1, 0)) == first_draws(
        make_sampler(spec, space, 1, 0)
    )
    assert first_draws(make_sampler(spec, space, 1, 0)) != first_draws(
        make_sampler(spec, space, 1, 8)
    )
    kinds = {n: type(make_sampler({"name": n, "seed": 0}, space, 1, 0)) for n in ("tpe", "cmaes")}
    assert kinds == {"tpe": TPESampler, "cmaes": CmaEsSampler}
    assert isinstance(make_sampler({"name": "random"}, space, 1, 0), RandomSampler)
    with pytest.raises(ConfigError, match="CMA-ES"):
        make_sampler({"name": "cmaes"}, space, 2, 0)
    with pytest.raises(ConfigError, match="not one of"):
        make_sampler({"name": "bayes"}, space, 1, 0)


def test_grid_sampler_visits_every_point_and_refuses_intervals():
    space = parse_search_space({"a": "choice(1, 2)", "b": "choice(x, y, z)"}, [])
    study = optuna.create_study(sampler=make_sampler({"name": "grid", "seed": 0}, space, 1, 0))
    seen = set()
    for _ in range(6):
        trial = study.ask(space.distributions)
        seen.add((trial.params["a"], trial.params["b"]))
        study.tell(trial, 0.0)
    assert len(seen) == 6 and isinstance(study.sampler, GridSampler)
    assert study.sampler.is_exhausted(study)
    with pytest.raises(ConfigError, match="grid sampler needs choice"):
        make_sampler({"name": "grid"}, parse_search_space({"x": "interval(0, 1)"}, []), 1, 0)


def _finished(study, value_per_step: dict[int, float]) -> None:
    study.add_trial(
        create_trial(
            params={"x": 0.5},
            distributions={"x": FloatDistribution(0, 1)},
            value=value_per_step[max(value_per_step)],
            intermediate_values=value_per_step,
        )
    )


def _verdict(pruner, study, reports: dict[int, float]) -> bool:
    trial = study.ask({"x": FloatDistribution(0, 1)})
    for step, value in reports.items():
        trial.report(value, step)
    study.pruner = pruner
    return trial.should_prune()


def test_median_pruner_waits_for_startup_trials_and_warmup_evaluations():
    spec = {"name": "median", "n_startup_trials": 2, "n_warmup_evals": 2}
    study = optuna.create_study(direction="maximize")
    _finished(study, {0: 1.0, 1: 1.0, 2: 1.0})
    # One completed trial of the two required: never pruned.
    assert not _verdict(make_pruner(spec), study, {0: -5.0, 1: -5.0, 2: -5.0})
    _finished(study, {0: 1.0, 1: 1.0, 2: 1.0})
    # Evaluations 0 and 1 are the warm-up; the third (step 2) can be pruned.
    assert not _verdict(make_pruner(spec), study, {0: -5.0, 1: -5.0})
    assert _verdict(make_pruner(spec), study, {0: -5.0, 1: -5.0, 2: -5.0})
    assert not _verdict(make_pruner(spec), study, {0: 5.0, 1: 5.0, 2: 5.0})


def test_successive_halving_keeps_the_top_third_of_a_rung_after_its_startup_trials():
    spec = {"name": "successive_halving", "n_startup_trials": 3, "n_warmup_evals": 1}
    pruner = make_pruner(spec)
    assert isinstance(pruner, AfterStartupTrials)
    study = optuna.create_study(direction="maximize")
    # Three trials reach the first rung (step 1) with 3, 2, 1 and complete.
    for value in (3.0, 2.0, 1.0):
        trial = study.ask({"x": FloatDistribution(0, 1)})
        study.pruner = make_pruner(spec)
        trial.report(value, 0)
        trial.report(value, 1)
        # Still inside the startup trials: the rung is recorded, nobody is stopped.
        assert not trial.should_prune()
        study.tell(trial, value)
    assert not _verdict(make_pruner(spec), study, {0: 0.0, 1: 3.5})
    assert _verdict(make_pruner(spec), study, {0: 0.0, 1: 1.5})
    with pytest.raises(ConfigError, match="not one of"):
        make_pruner({"name": "hyperband"})


def test_storage_locations_are_absolute_and_shared(tmp_path: Path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    sqlite = resolve_storage("sqlite:///studies/a.db", tmp_path / "sweep")
    assert sqlite == f"sqlite:///{tmp_path / 'studies' / 'a.db'}"
    assert resolve_storage(None, tmp_path / "sweep") == f"sqlite:///{tmp_path / 'sweep/optuna.db'}"
    journal = resolve_storage("studies/a.log", tmp_path)
    assert journal == str(tmp_path / "studies" / "a.log")
    with pytest.raises(ConfigError, match="in-memory"):
        resolve_storage("sqlite:///:memory:", tmp_path)
    for location in (sqlite, journal):
        first = optuna.create_study(study_name="s", storage=open_storage(location))
        first.enqueue_trial({"x": 0.25})
        again = optuna.load_study(study_name="s", storage=open_storage(location))
        assert len(again.trials) == 1


def test_settings_checks_and_callback_overrides():
    base = dict(
        direction="maximize", metrics=None, study_name="s", storage=None, n_trials=2,
        n_jobs=1, sampler={"name": "tpe"}, pruner={"name": "median"}, params=None,
    )  # fmt: skip
    SweepSettings(**base).check()
    for change, match in (
        ({"direction": ["maximize", "maximize"]}, "need 2 metrics"),
        ({"metrics": ["a", "b"]}, "2 metrics for 1"),
        ({"direction": ["maximize"] * 2, "metrics": ["a", "b"]}, "one objective"),
        ({"direction": "up"}, "maximize or minimize"),
        ({"n_jobs": 0}, ">= 1"),
    ):
        with pytest.raises(ConfigError, match=match):
            SweepSettings(**{**base, **change}).check()
    assert callback_overrides("my study", "sqlite:////x/it's.db", 4) == [
        "++callbacks.optuna_trial._target_=ploutos.sweeper.pruning.TrialPruning",
        "++callbacks.optuna_trial.study_name='my study'",
        "++callbacks.optuna_trial.storage='sqlite:////x/it\\'s.db'",
        "++callbacks.optuna_trial.trial_number=4",
    ]
