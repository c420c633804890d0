"""The charts budget: which evaluations the dashboards draw, on a fake clock.

The callback runs for real (its worker thread, TensorBoard logger, the undrawn-best and
final-evaluation rules); only the drawing is replaced by one of a known cost, and the
training's CPU clock is a number the test sets.
"""

from __future__ import annotations

from concurrent.futures import wait
from pathlib import Path
from types import SimpleNamespace

import pytest
from lightning.pytorch.loggers import TensorBoardLogger
from omegaconf import OmegaConf

from ploutos.dashboards.budget import ChartBudget
from ploutos.dashboards.callback import Dashboards, _Drawn, charts_budget
from ploutos.errors import ConfigError
from ploutos.training.callbacks import EnvStepEvaluation

INTERVAL = 1.3  # CPU-s of training between evaluations
EVALS = 30


def run_evaluations(
    tmp_path: Path, fraction: float | None, cost: float, improved_at: set[int]
) -> list[int]:
    """EVALS evaluations at training CPU time INTERVAL * k (k = 1..EVALS, the last one at
    total_timesteps); each drawing costs `cost` CPU-s. Returns the drawn evaluations' k in
    the order they were drawn."""
    now = [0.0]
    budget = ChartBudget(fraction, clock=lambda: now[0])
    evaluation = EnvStepEvaluation(lambda policy: {}, every=1, total_timesteps=EVALS)
    cfg = OmegaConf.create({"logger": {"tensorboard": {"charts": True}}})
    dashboards = Dashboards(cfg, evaluation, SimpleNamespace(), charter=None, budget=budget)
    drawn: list[int] = []

    def draw(pending, wandb_on: bool, writers: list) -> _Drawn:
        drawn.append(pending.step)
        return _Drawn(payload=None, png_path=None, seconds=cost, once=0.0)

    dashboards._draw = draw
    trainer = SimpleNamespace(
        loggers=[TensorBoardLogger(str(tmp_path), name="tb", version="")],
        callback_metrics={},
        is_global_zero=True,
    )
    dashboards.on_train_start(trainer, None)
    for k in range(1, EVALS + 1):
        now[0] = INTERVAL * k
        evaluation.last_env_steps = k
        evaluation.improved = k in improved_at
        scalars = dashboards.on_evaluation(trainer, evaluation, {"episode_log": "log"}, step=k)
        assert "early_stopping/evals_since_best" in scalars  # scalars whatever is drawn
        wait(list(dashboards._drawn))  # the fake drawing is instant; nothing stays in flight
    dashboards.on_train_end(trainer, None)
    assert budget.drawn == len(drawn)
    # The drawings' cost plus run.log's own CPU time (the thread's, measured): about a
    # millisecond over a run, more on a loaded host, never a drawing's worth.
    assert cost * len(drawn) <= budget.spent < cost * len(drawn) + 0.05
    return drawn


def test_the_budget_draws_what_the_rule_allows_and_always_the_last(tmp_path: Path) -> None:
    # Budget 0.05, drawings of 0.4 CPU-s: after n drawings the next one needs
    # 0.4 (n + 1) <= 0.05 t, i.e. t >= 8 (n + 1). t = 1.3 k: the first is free (k = 1),
    # then t >= 16 (k = 13, t = 16.9), t >= 24 (k = 19, 24.7), t >= 32 (k = 25, 32.5); t >= 40
    # is never reached, but the last evaluation (k = 30) is drawn anyway.
    assert run_evaluations(tmp_path, 0.05, 0.4, improved_at=set()) == [1, 13, 19, 25, 30]


def test_the_best_evaluation_is_drawn_even_when_the_budget_skipped_it(tmp_path: Path) -> None:
    # Same schedule; the best evaluations are k = 1 (drawn) and k = 5 (skipped): the end of
    # training draws k = 5 after the last one. An improvement that was drawn (k = 13) clears
    # the pending best.
    assert run_evaluations(tmp_path, 0.05, 0.4, improved_at={1, 5}) == [1, 13, 19, 25, 30, 5]
    assert run_evaluations(tmp_path, 0.05, 0.4, improved_at={5, 13}) == [1, 13, 19, 25, 30]


def test_without_a_limit_or_with_cheap_charts_every_evaluation_draws(tmp_path: Path) -> None:
    assert run_evaluations(tmp_path, None, 10.0, improved_at=set()) == list(range(1, EVALS + 1))
    # 0.06 CPU-s a drawing at 1.3 CPU-s an evaluation is 4.6% of training: under 0.05.
    assert len(run_evaluations(tmp_path, 0.05, 0.06, improved_at=set())) == EVALS


def test_the_budget_comes_from_the_chart_loggers_configs() -> None:
    def budget_of(logger: dict) -> float | None:
        return charts_budget(OmegaConf.create(logger))

    assert budget_of({"csv": {}, "tensorboard": {"charts": True}}) == 0.02  # the default
    both = {"tensorboard": {"charts_budget": 0.01}, "wandb": {"charts_budget": 0.1}}
    assert budget_of(both) == 0.1  # one drawing serves both: the larger share
    both["wandb"]["charts"] = False
    assert budget_of(both) == 0.01  # a logger without charts has no say
    assert budget_of({"wandb": {"charts_budget": None}}) is None
    for bad in (0, 1.5, -0.1):
        with pytest.raises(ConfigError, match="logger.wandb.charts_budget"):
            budget_of({"wandb": {"charts_budget": bad}})
