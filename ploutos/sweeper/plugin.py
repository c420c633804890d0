"""The Hydra Sweeper (found by Hydra through hydra_plugins/ploutos_sweeper).

Kept free of optuna imports: Hydra imports every plugin on each `python train.py`, and the
study loop (study_loop.py) is imported only when a sweep starts.
"""

from __future__ import annotations

from typing import Any

from hydra.plugins.sweeper import Sweeper
from hydra.types import HydraContext, TaskFunction
from omegaconf import DictConfig, OmegaConf


def _plain(value: Any) -> Any:
    return OmegaConf.to_container(value, resolve=True) if OmegaConf.is_config(value) else value


class OptunaSweeper(Sweeper):
    """Optuna search over the training config, with trials pruned at their evaluations."""

    def __init__(self, **settings: Any) -> None:
        super().__init__()
        self.settings = {key: _plain(value) for key, value in settings.items()}
        self.hydra_context: HydraContext | None = None
        self.config: DictConfig | None = None
        self.launcher = None

    def setup(
        self, *, hydra_context: HydraContext, task_function: TaskFunction, config: DictConfig
    ) -> None:
        from hydra.core.plugins import Plugins

        self.hydra_context = hydra_context
        self.config = config
        self.launcher = Plugins.instance().instantiate_launcher(
            hydra_context=hydra_context, task_function=task_function, config=config
        )

    def sweep(self, arguments: list[str]) -> Any:
        from ploutos.sweeper.study_loop import SweepSettings, run_study

        assert self.config is not None and self.launcher is not None
        return run_study(
            SweepSettings(**self.settings),
            arguments,
            self.config,
            self.launcher,
            self.validate_batch_is_legal,
        )
