"""Typed schema for the root of the training config, and range checks Hydra cannot express.

The schema makes Hydra itself reject a wrong type (`total_timesteps=abc`) with its own clear
message; group contents stay free-form here and are checked by the module that reads them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hydra import compose, initialize_config_dir
from hydra.core.config_store import ConfigStore
from omegaconf import DictConfig

from ploutos.errors import ConfigError

SCHEMA_GROUP = "schema"  # train.yaml: `- schema: train`; walkforward.yaml overrides it
# The one config folder: inside the package so that an installed wheel carries it; the
# repository's top-level conf/ is a symlink to it, and every app and tool searches here.
CONF_DIR = Path(__file__).resolve().parent / "conf"


@dataclass
class EarlyStoppingSchema:
    enabled: bool = False
    max_no_improvement_evals: int = 25
    min_evals: int = 100


@dataclass
class TrainSchema:
    data: Any = None
    features: Any = None
    env: Any = None
    obs: Any = None
    reward: Any = None
    model: Any = None
    algo: Any = None
    ensemble: Any = None
    drift: Any = None
    logger: Any = None
    callbacks: Any = None
    trainer: Any = None
    experiment: Any = None
    seed: int = 42
    device: str = "cpu"
    total_timesteps: int = 1_000_000
    ent_coef: float = 0.05
    eval_freq: int = 100_000
    checkpoint_freq: int = 250_000
    early_stopping: EarlyStoppingSchema = field(default_factory=EarlyStoppingSchema)
    ckpt_path: str | None = None
    summary_only: bool = False


# Root keys the algo group copies by interpolation (`total_timesteps: ${total_timesteps}`).
ROOT_COPIES = ("total_timesteps", "ent_coef")


def register_configs() -> None:
    """Make the schema available to conf/train.yaml's defaults list."""
    ConfigStore.instance().store(
        group=SCHEMA_GROUP, name="train", node=TrainSchema, package="_global_"
    )


def compose_train_config(overrides: Sequence[str] = ()) -> DictConfig:
    """conf/train.yaml with Hydra overrides (`["obs=v7", "env=weights"]`), composed as
    `python train.py ...` composes it, from any working directory."""
    register_configs()
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        return compose(config_name="train", overrides=list(overrides))


def _require(ok: bool, key: str, message: str) -> None:
    if not ok:
        raise ConfigError(key, message)


def validate_config(cfg: DictConfig) -> None:
    """Every range check that needs no data, so a bad value stops a run in milliseconds,
    before bars are loaded; checks that need the calendar (split dates against the data)
    run when the market is built, still before any training."""
    # Imported here: `python train.py --cfg job` must not pay for torch and pandas.
    from ploutos.algos.registry import validate_algo_config
    from ploutos.data.splits import split_bounds
    from ploutos.data.validate import check_data_config
    from ploutos.env.params import EnvParams
    from ploutos.features.normalizer import AdaptiveNormalizer
    from ploutos.features.pipeline import parse_requests
    from ploutos.obs.builders import obs_lookback

    validate_root(cfg)
    check_data_config(cfg.data)
    split_bounds(cfg.data.splits)
    parse_requests(cfg.features)
    AdaptiveNormalizer.from_config(cfg.features.get("normalizer"))
    EnvParams.from_config(cfg.env)
    obs_lookback(cfg.obs)
    validate_algo_config(cfg.algo)


def validate_root(cfg: DictConfig) -> None:
    """Range checks on the root keys researchers sweep; groups check their own keys."""
    _require(cfg.total_timesteps > 0, "total_timesteps", f"must be > 0, got {cfg.total_timesteps}")
    _require(cfg.eval_freq > 0, "eval_freq", f"must be > 0 env steps, got {cfg.eval_freq}")
    _require(
        cfg.checkpoint_freq > 0,
        "checkpoint_freq",
        f"must be > 0 env steps, got {cfg.checkpoint_freq}",
    )
    _require(cfg.ent_coef >= 0, "ent_coef", f"must be >= 0, got {cfg.ent_coef}")
    _require(
        cfg.device == "cpu" or str(cfg.device).startswith("cuda"),
        "device",
        f"must be 'cpu', 'cuda' or 'cuda:N', got '{cfg.device}'",
    )
    stopping = cfg.early_stopping
    _require(
        stopping.max_no_improvement_evals >= 1,
        "early_stopping.max_no_improvement_evals",
        f"must be >= 1, got {stopping.max_no_improvement_evals}",
    )
    _require(
        stopping.min_evals >= 0,
        "early_stopping.min_evals",
        f"must be >= 0, got {stopping.min_evals}",
    )
    # The algo group reads these root keys through interpolation; a value set on the copy
    # would be a second address that sweeps, presets and the summary do not see.
    algo = cfg.get("algo") or {}
    for key in ROOT_COPIES:
        if key in algo and algo[key] != cfg[key]:
            raise ConfigError(
                f"algo.{key}",
                f"is the root key's copy ({cfg[key]}); set {key}={algo[key]} instead",
            )
