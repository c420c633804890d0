"""Loggers from the `logger` group: csv, tensorboard and wandb, one or several at once.

W&B never reaches the network unless the user asked for it: WANDB_MODE wins when set, an
explicit `logger.wandb.mode` next, otherwise online only when an API key is present (the
environment or wandb's netrc login) and offline in every other case.
"""

from __future__ import annotations

import netrc
import os
from pathlib import Path
from typing import Any

import pandas as pd
from hydra.utils import instantiate
from lightning.pytorch.loggers import CSVLogger, Logger, TensorBoardLogger, WandbLogger
from omegaconf import DictConfig, OmegaConf

from ploutos.errors import ConfigError
from ploutos.training.metric_names import with_sb3_aliases

KNOWN = ("csv", "tensorboard", "wandb")
ENV_STEPS = "train/env_steps"
WANDB_HOST = "api.wandb.ai"


def _logged_in_to_wandb() -> bool:
    if os.environ.get("WANDB_API_KEY"):
        return True
    try:
        return netrc.netrc().authenticators(WANDB_HOST) is not None
    except (FileNotFoundError, netrc.NetrcParseError):
        return False


def wandb_mode(configured: str | None) -> str:
    """online / offline / disabled, decided without any network call."""
    if os.environ.get("WANDB_MODE"):
        return os.environ["WANDB_MODE"]
    if configured:
        if configured not in ("online", "offline", "disabled"):
            raise ConfigError(
                "logger.wandb.mode", f"must be online, offline, disabled or null; got {configured}"
            )
        return configured
    return "online" if _logged_in_to_wandb() else "offline"


def sweep_group() -> str | None:
    """The multirun's sweep folder (e.g. `multirun/2026-12-01/10-00-00`) when this job is
    one of a Hydra multirun, else None: W&B then shows a sweep's jobs as one group."""
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    if not HydraConfig.initialized():
        return None
    hydra_cfg = HydraConfig.get()
    if hydra_cfg.mode != RunMode.MULTIRUN:
        return None
    return group_name(hydra_cfg.sweep.dir)


def group_name(folder: str | Path) -> str:
    """A sweep folder as a W&B group: relative to the working directory when inside it, so
    the jobs (hydra.sweep.dir) and the study report of the folder name the same group."""
    path = Path(folder).resolve()
    try:
        return str(path.relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def override_columns(overrides: list[str]) -> dict[str, Any]:
    """Command-line overrides as {key: value} (Hydra's own parser; `+`/`++` dropped, deletions
    skipped): a multirun job's are the swept keys' values, among others."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    parsed = OverridesParser.create().parse_overrides(overrides)
    return {o.key_or_group: o.value() for o in parsed if not o.is_delete()}


def sweep_columns() -> dict[str, Any]:
    """This multirun job's overrides (override_columns), {} outside a multirun: W&B shows them
    as config columns `sweep.<key>` for parallel coordinates and grouping."""
    from hydra.core.hydra_config import HydraConfig

    if sweep_group() is None:
        return {}
    return override_columns(list(HydraConfig.get().overrides.task))


def _wandb(spec: DictConfig, out_dir: Path, config: dict[str, Any]) -> WandbLogger:
    columns = sweep_columns()
    return WandbLogger(
        project=spec.get("project") or "ploutos",
        entity=spec.get("entity"),
        group=spec.get("group") or sweep_group(),
        job_type="train",
        tags=list(spec.get("tags") or []),
        name=spec.get("name"),
        save_dir=str(out_dir),
        mode=wandb_mode(spec.get("mode")),
        config={**config, "sweep": columns} if columns else config,
        # A fresh run per job: multirun jobs share a process and must not resume each other.
        reinit="finish_previous",
    )


class ResumingCSVLogger(CSVLogger):
    """Lightning's CSVLogger, but a run resumed in its own folder (ckpt_path=auto) keeps the
    rows logged up to its checkpoint: Lightning deletes an existing metrics.csv, and the rows
    after the checkpoint belong to work the resumed run does again."""

    def __init__(self, *args: Any, keep_until_env_steps: int | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._keep_until = keep_until_env_steps

    @property
    def experiment(self) -> Any:
        if self._experiment is not None or self._keep_until is None:
            return super().experiment
        path = Path(self.log_dir) / "metrics.csv"
        earlier = pd.read_csv(path) if path.is_file() and path.stat().st_size else None
        writer = super().experiment  # removes metrics.csv
        if earlier is not None and {"step", ENV_STEPS} <= set(earlier.columns):
            # An iteration's rows (training and evaluation) share its step: kept or dropped whole.
            done = earlier.loc[earlier[ENV_STEPS] <= self._keep_until, "step"]
            kept = earlier[earlier["step"] <= done.max()] if len(done) else earlier.iloc[:0]
            for row in kept.to_dict("records"):
                writer.metrics.append({k: v for k, v in row.items() if pd.notna(v)})
        return writer


def make_loggers(
    logger_cfg: DictConfig,
    out_dir: Path,
    config: dict[str, Any],
    resumed_at_env_steps: int | None = None,
) -> list[Logger]:
    """One Lightning logger per entry of the `logger` group, all writing under out_dir.

    `config` is the resolved run config, stored as hyperparameters by every logger;
    `resumed_at_env_steps` is where the checkpoint a resumed run continues stopped.
    """
    custom = [k for k, v in logger_cfg.items() if isinstance(v, DictConfig) and "_target_" in v]
    unknown = sorted(set(logger_cfg.keys()) - set(KNOWN) - set(custom))
    if unknown:
        raise ConfigError(
            "logger",
            f"unknown logger(s) {unknown}; known: {', '.join(KNOWN)}, or give a `_target_` node",
        )
    loggers: list[Logger] = []
    if "csv" in logger_cfg:
        loggers.append(ResumingCSVLogger(
            save_dir=str(out_dir), name="csv", version="", keep_until_env_steps=resumed_at_env_steps
        ))
    if "tensorboard" in logger_cfg:
        loggers.append(
            TensorBoardLogger(
                save_dir=str(out_dir), name="tensorboard", version="", default_hp_metric=False
            )
        )
    if "wandb" in logger_cfg:
        loggers.append(_wandb(logger_cfg.wandb, out_dir, config))
    # Any other Lightning logger from a `_target_` node (+logger.NAME._target_=CLASS).
    loggers.extend(instantiate(logger_cfg[k]) for k in custom)
    for logger in loggers:
        if not isinstance(logger, WandbLogger):  # wandb got the config at init
            logger.log_hyperparams(config)
    # SB3's names beside the algorithms' own (rollout/ep_rew_mean, train/entropy_loss, ...).
    return [with_sb3_aliases(logger) for logger in loggers]


def finish_loggers(loggers: list[Logger], ok: bool) -> None:
    """Flush files and close the W&B run, so each multirun job is its own run."""
    for logger in loggers:
        logger.finalize("success" if ok else "failed")
    if any(isinstance(logger, WandbLogger) for logger in loggers):
        import wandb

        wandb.finish(exit_code=0 if ok else 1)


def resolved_container(cfg: DictConfig) -> dict[str, Any]:
    out = OmegaConf.to_container(cfg, resolve=True)
    assert isinstance(out, dict)
    return out
