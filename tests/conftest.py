"""Shared test helpers: the repository's composed configs and small hand-made markets that
need no data files."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pytest
import torch
from hydra import compose, initialize_config_dir
from omegaconf import DictConfig

from ploutos.config import CONF_DIR, register_configs
from ploutos.market import Market, SplitRange


def compose_config(
    config_name: str = "train", overrides: Sequence[str] = (), return_hydra_config: bool = False
) -> DictConfig:
    """conf/<config_name>.yaml composed with Hydra overrides, as the apps compose it."""
    register_configs()
    if config_name == "walkforward":
        from ploutos.evaluation.walkforward import register_configs as register_walkforward

        register_walkforward()
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        return compose(
            config_name=config_name,
            overrides=list(overrides),
            return_hydra_config=return_hydra_config,
        )


def make_toy_market(
    n_days: int = 300,
    n_assets: int = 4,
    n_features: int = 6,
    with_open: bool = True,
    seed: int = 0,
    warmup: int = 20,
    device: str = "cpu",
) -> Market:
    """A random-walk market with random features and train/val/test thirds after the warm-up."""
    rng = np.random.default_rng(seed)
    log_ret = rng.normal(0.0003, 0.015, size=(n_days, n_assets))
    close = 50.0 * np.exp(np.cumsum(log_ret, axis=0))
    open_ = close * np.exp(rng.normal(0.0, 0.004, size=close.shape)) if with_open else close
    features = rng.normal(size=(n_days, n_assets, n_features)).astype(np.float32)
    tradable = n_days - warmup
    cut1, cut2 = warmup + tradable // 2, warmup + (3 * tradable) // 4
    splits = {
        "train": SplitRange("train", warmup, cut1),
        "val": SplitRange("val", cut1, cut2),
        "test": SplitRange("test", cut2, n_days),
    }
    dates = np.datetime64("2000-01-03") + np.arange(n_days).astype("timedelta64[D]")
    return Market(
        dates=dates,
        tickers=tuple(f"T{i}" for i in range(n_assets)),
        close=torch.tensor(close, dtype=torch.float64, device=device),
        fill=torch.tensor(open_, dtype=torch.float64, device=device),
        features=torch.tensor(features, device=device),
        feature_names=tuple(f"f{i}" for i in range(n_features)),
        splits=splits,
        warmup=warmup,
        benchmark=torch.tensor(close.mean(axis=1), dtype=torch.float64, device=device),
        benchmark_name="EQW",
        fills_at_open=with_open,
    )


@pytest.fixture
def toy_market() -> Market:
    return make_toy_market()


def cuda_params() -> list:
    """Parametrize a test over cpu and, where present, cuda."""
    return [
        "cpu",
        pytest.param(
            "cuda",
            marks=[
                pytest.mark.cuda,
                pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device"),
            ],
        ),
    ]
