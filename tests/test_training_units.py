"""Pieces of the training app that need no training: schedule, atomic writes, loggers,
config validation, and the composition of `python train.py` and its presets."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from conftest import compose_config
from omegaconf import OmegaConf

from ploutos.errors import ConfigError
from ploutos.training.checkpoint_io import atomic_torch_save
from ploutos.training.loggers import make_loggers, wandb_mode
from ploutos.training.schedule import crossed
from ploutos.training.summary import write_summary
from ploutos.training.validate import validate_training


def compose_train(overrides: list[str] | None = None):
    return compose_config("train", overrides or [])


def test_crossed_counts_every_multiple_once() -> None:
    # 512 env steps per iteration against a frequency of 1000: events at 1024, 2048, 3072.
    steps = [512 * i for i in range(9)]
    fired = [b for a, b in zip(steps, steps[1:], strict=False) if crossed(a, b, 1000)]
    assert fired == [1024, 2048, 3072, 4096]
    assert crossed(0, 1000, 1000) and not crossed(1000, 1999, 1000)


def test_atomic_save_keeps_old_file_when_write_fails(tmp_path: Path) -> None:
    target = tmp_path / "last.ckpt"
    atomic_torch_save({"x": torch.tensor([1.0])}, target)

    class Unpicklable:
        def __reduce__(self):
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        atomic_torch_save({"x": Unpicklable()}, target)
    assert torch.load(target)["x"].item() == 1.0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["last.ckpt"]  # no temp left


def test_summary_is_json(tmp_path: Path) -> None:
    path = write_summary(tmp_path / "run", {"env_steps": 3, "best": {"score": 1.5}})
    assert OmegaConf.to_container(OmegaConf.load(path)) == {"best": {"score": 1.5}, "env_steps": 3}


def test_wandb_mode_never_online_without_login(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    monkeypatch.delenv("WANDB_MODE", raising=False)
    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    monkeypatch.setenv("NETRC", str(tmp_path / "no-netrc"))
    monkeypatch.setenv("HOME", str(tmp_path))
    assert wandb_mode(None) == "offline"
    assert wandb_mode("disabled") == "disabled"
    monkeypatch.setenv("WANDB_API_KEY", "x" * 40)
    assert wandb_mode(None) == "online"
    monkeypatch.setenv("WANDB_MODE", "offline")  # the environment always wins
    assert wandb_mode("online") == "offline"
    with pytest.raises(ConfigError, match=r"^logger\.wandb\.mode"):
        monkeypatch.delenv("WANDB_MODE")
        wandb_mode("sometimes")


def test_many_loggers_write_under_the_run_dir(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("WANDB_MODE", "offline")
    cfg = compose_train(["logger=many", "logger.wandb.group=g1", "logger.wandb.tags=[a,b]"])
    assert set(cfg.logger) == {"csv", "tensorboard", "wandb"}
    loggers = make_loggers(cfg.logger, tmp_path, {"seed": 1})
    try:
        for logger in loggers:
            logger.log_metrics({"eval/sharpe": 0.5}, step=0)
            logger.save()
        run = loggers[2].experiment
        assert run.group == "g1" and list(run.tags) == ["a", "b"]
    finally:
        import wandb

        wandb.finish()
    assert (tmp_path / "csv" / "metrics.csv").read_text().splitlines()[1].startswith("0.5")
    assert list((tmp_path / "tensorboard").glob("events.out.tfevents.*"))
    assert list((tmp_path / "wandb").glob("offline-run-*"))


def test_default_config_composes_with_every_group() -> None:
    cfg = compose_train()
    for group in ("data", "features", "env", "obs", "reward", "model", "algo", "logger",
                  "trainer"):
        assert group in cfg, group
    # The run's length, frequencies, stopping and device have one address: the root.
    for key in ("eval_freq", "checkpoint_freq", "early_stopping", "accelerator", "device"):
        assert key not in cfg.trainer, key
    assert cfg.early_stopping.enabled is False and cfg.device == "cpu"
    assert cfg.trainer.monitor == "eval/sharpe"
    validate_training(cfg)


@pytest.mark.parametrize(("copy", "root"), [("algo.ent_coef=0.3", "ent_coef=0.3"),
                                            ("algo.total_timesteps=4096", "total_timesteps=4096")])
def test_the_algo_groups_copies_of_root_keys_are_refused(copy: str, root: str) -> None:
    from ploutos.config import validate_root

    key = copy.split("=")[0]
    with pytest.raises(ConfigError, match=rf"^{key}: .*set {root} instead"):
        validate_root(compose_train([copy]))
    validate_root(compose_train([root]))  # the root key is the address


@pytest.mark.parametrize(
    ("preset", "expected"),
    [
        ("v6_15m", (15_000_000, 0.10, 50_000, 10_000, False)),
        ("v6_50m", (50_000_000, 0.08, 100_000, 20_000, True)),
    ],
)
def test_presets_reproduce_the_seed_table(preset: str, expected: tuple) -> None:
    cfg = compose_train([f"experiment={preset}"])
    got = (cfg.total_timesteps, cfg.ent_coef, cfg.checkpoint_freq, cfg.eval_freq,
           cfg.early_stopping.enabled)
    assert got == expected
    assert cfg.algo.ent_coef == expected[1]
    assert (cfg.early_stopping.max_no_improvement_evals, cfg.early_stopping.min_evals) == (25, 100)
    assert (cfg.algo.max_grad_norm, cfg.algo.target_kl) == (0.5, 0.02)
    assert cfg.obs.name == "v6" and cfg.model.name == "mlp"


@pytest.mark.parametrize(
    ("override", "key"),
    [
        ("trainer.mode=up", "trainer.mode"),
        ("trainer.monitor=train/entropy", "trainer.monitor"),
        ("trainer.eval_split=test", "trainer.eval_split"),
        ("trainer.log_every_n_iterations=0", "trainer.log_every_n_iterations"),
        ("ckpt_path=/nonexistent/last.ckpt", "ckpt_path"),
        ("eval_freq=0", "eval_freq"),
    ],
)
def test_bad_training_config_names_the_key(override: str, key: str) -> None:
    cfg = compose_train([override])
    with pytest.raises(ConfigError) as err:
        validate_training(cfg)
    assert err.value.key == key and str(err.value).startswith(key)

