"""The composed config: every group present, sweepable root keys, and clear errors."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from conftest import compose_config
from omegaconf import OmegaConf

from ploutos.config import validate_config
from ploutos.errors import ConfigError

REPO = Path(__file__).resolve().parents[1]
GROUPS = ("data", "features", "env", "obs", "reward", "model", "algo", "ensemble", "drift",
          "logger", "trainer", "experiment")  # fmt: skip


def composed(*overrides: str):
    return compose_config("train", overrides)


def run_app(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "train.py", *args], cwd=REPO, capture_output=True, text=True, timeout=120
    )


def test_every_group_of_the_design_is_composed() -> None:
    cfg = composed()
    for group in GROUPS:
        assert group in cfg, group
    validate_config(cfg)


def test_root_keys_flow_into_their_groups() -> None:
    cfg = composed("ent_coef=0.08", "total_timesteps=50_000_000", "seed=7", "eval_freq=1234")
    resolved = OmegaConf.to_container(cfg, resolve=True)
    assert resolved["algo"]["ent_coef"] == 0.08
    assert resolved["algo"]["total_timesteps"] == 50_000_000
    assert resolved["eval_freq"] == 1234 and "eval_freq" not in resolved["trainer"]
    assert resolved["data"]["splits"]["test_start"] == "2020-01-01"


@pytest.mark.parametrize(
    ("override", "key"),
    [
        ("env.commission_bps=-1", "env.commission_bps"),
        ("env.slippage_bps=-5", "env.slippage_bps"),
        ("obs.lookback=0", "obs.lookback"),
        ("data.tickers=[]", "data.tickers"),
        ("data.splits.train_start=2021-01-01", "data.splits.val_start"),
        ("data.splits.val_start=2021-01-01", "data.splits.test_start"),
        ("algo.n_envs=0", "algo.n_envs"),
        ("total_timesteps=0", "total_timesteps"),
        ("ent_coef=-0.1", "ent_coef"),
        ("features.normalizer.clip=0", "features.normalizer.clip"),
    ],
)
def test_out_of_range_values_name_their_key(override: str, key: str) -> None:
    overrides = [override, "obs=v7"] if override.startswith("obs.") else [override]
    with pytest.raises(ConfigError) as err:
        validate_config(composed(*overrides))
    assert str(err.value).startswith(f"{key}:")


def test_app_stops_on_a_bad_value_before_loading_data() -> None:
    result = run_app("env.commission_bps=-1")
    assert result.returncode != 0
    assert "env.commission_bps: must be >= 0" in result.stderr
    assert "data: sample" not in result.stdout  # the summary never printed


def test_hydra_rejects_unknown_options_and_wrong_types() -> None:
    unknown = run_app("obs=v9", "--cfg", "job")
    assert unknown.returncode != 0
    assert "Could not find 'obs/v9'" in unknown.stderr
    wrong_type = run_app("total_timesteps=abc", "--cfg", "job")
    assert wrong_type.returncode != 0
    assert "could not be converted to Integer" in wrong_type.stderr
    assert "total_timesteps" in wrong_type.stderr
