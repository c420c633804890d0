"""The PPO LightningModule on toy markets: iterations, seeding, resume state, guards, learning."""

from __future__ import annotations

import dataclasses
import io
import math

import lightning as L
import pytest
import torch
from conftest import make_toy_market
from omegaconf import OmegaConf

from ploutos.algos.ppo import PPO, ppo_loss
from ploutos.env.types import BUY
from ploutos.errors import ConfigError, TrainingDiverged
from ploutos.obs import fresh_portfolio
from ploutos.obs.compact import CompactObs


def _cfg(model: str = "mlp", obs: str = "v6", **overrides):
    cfg = OmegaConf.create(
        {
            "seed": 3,
            "total_timesteps": 2048,
            "ent_coef": 0.01,
            "env": OmegaConf.load("conf/env/default.yaml"),
            "obs": OmegaConf.load(f"conf/obs/{obs}.yaml"),
            "reward": OmegaConf.load("conf/reward/pnl.yaml"),
            "model": OmegaConf.load(f"conf/model/{model}.yaml"),
            "algo": OmegaConf.load("conf/algo/ppo.yaml"),
        }
    )
    cfg.algo.n_envs, cfg.algo.n_steps, cfg.env.episode_days = 16, 16, 24
    cfg.model.update({"hidden_sizes": [32, 32]} if model == "mlp" else {"d_model": 16})
    if obs == "v7":
        cfg.obs.lookback = 10
    for key, value in overrides.items():
        OmegaConf.update(cfg, key, value)
    return cfg


def _params(module: PPO) -> torch.Tensor:
    return torch.cat([p.detach().flatten() for p in module.policy.parameters()])


@pytest.mark.parametrize(
    ("model", "obs", "mode"),
    [("mlp", "v6", "discrete"), ("mlp", "v6", "weights"), ("transformer", "v7", "discrete")],
)
def test_iterations_count_env_steps_and_change_parameters(model, obs, mode):
    module = PPO(_cfg(model, obs, **{"env.action_mode": mode}), make_toy_market(n_days=160))
    optimizer = module.configure_optimizers()
    before = _params(module)
    # A fresh head is near uniform: the first rollout's entropy (summed over the action's
    # dimensions) is that of the uniform choice of 3 per asset, or of the initial Gaussian.
    if mode == "discrete":
        expected_entropy = 4 * math.log(3)
    else:
        log_std = module.policy.log_std.detach()
        expected_entropy = float((0.5 * math.log(2 * math.pi * math.e) + log_std).sum())
    stats = [module.run_iteration(optimizer) for _ in range(2)]
    assert module.iterations == 2 and module.env_steps == 2 * 16 * 16
    assert module.n_iterations == 8  # ceil(2048 / 256)
    # (The entropy is the first update's mean over its minibatch steps, so it has moved a little.)
    assert stats[0]["entropy"] == pytest.approx(expected_entropy, rel=5e-3)
    # Adam moves a weight by at most about lr * (1 - beta1) / sqrt(1 - beta2) = 3.17 lr per
    # step, and there were 2 iterations x epochs x minibatches of steps.
    algo = module.cfg.algo
    lr, steps = algo.learning_rate, 2 * algo.update_epochs * algo.num_minibatches
    moved = float((_params(module) - before).abs().max())
    assert 0.1 * lr < moved <= 3.17 * lr * steps
    assert stats[1]["env_steps"] == 512.0
    assert stats[1]["lr"] == pytest.approx(lr * (1 - 1 / 8))  # linear annealing
    # Episodes of 24 steps finish during the second 16-step rollout.
    assert stats[1]["episode_length"] == 24.0


def test_rollout_market_table_matches_per_step_encoding():
    # 16 envs x 16 steps > 140 train days: the rollout encodes every day once up front.
    market = make_toy_market()
    runs = []
    for use_table in (True, False):
        module = PPO(_cfg(), market)
        assert module.use_table
        module.use_table = use_table
        runs.append(module.run_iteration(module.configure_optimizers()))
    for key in ("policy_loss", "value_loss", "entropy", "explained_variance"):
        assert runs[0][key] == pytest.approx(runs[1][key], rel=1e-4, abs=1e-6), key


def test_same_seed_same_curves_and_another_seed_differs():
    market = make_toy_market()
    runs = []
    for seed in (3, 3, 4):
        module = PPO(_cfg(seed=seed), market)
        optimizer = module.configure_optimizers()
        runs.append([module.run_iteration(optimizer)["value_loss"] for _ in range(2)])
    assert runs[0] == runs[1]
    assert runs[0] != runs[2]


def test_state_round_trip_gives_an_identical_next_iteration():
    market = make_toy_market()
    straight = PPO(_cfg(), market)
    optimizer = straight.configure_optimizers()
    for _ in range(2):
        straight.run_iteration(optimizer)
    saved: dict = {
        "state_dict": straight.state_dict(),
        "optimizer": optimizer.state_dict(),
    }
    straight.on_save_checkpoint(saved)
    buffer = io.BytesIO()
    torch.save(saved, buffer)
    expected = straight.run_iteration(optimizer)

    buffer.seek(0)
    loaded = torch.load(buffer, weights_only=True)
    torch.manual_seed(999)  # the resumed module must not depend on the RNG it starts with
    resumed = PPO(_cfg(), market)
    resumed.load_state_dict(loaded["state_dict"])
    resumed_optimizer = resumed.configure_optimizers()
    resumed_optimizer.load_state_dict(loaded["optimizer"])
    resumed.on_load_checkpoint(loaded)
    assert resumed.env_steps == 512 and resumed.iterations == 2
    assert loaded["cfg"]["algo"]["ent_coef"] == 0.01  # resolved, plain
    got = resumed.run_iteration(resumed_optimizer)
    for key in ("policy_loss", "value_loss", "approx_kl", "episode_return", "lr"):
        assert got[key] == expected[key], key
    assert torch.equal(_params(resumed), _params(straight))


class _StopAfter(L.Callback):
    """Ends a fit after some iterations, as a killed run would (same total_timesteps)."""

    def __init__(self, iterations: int) -> None:
        self.iterations = iterations

    def on_train_batch_end(self, trainer, pl_module, *args) -> None:
        if pl_module.iterations >= self.iterations:
            trainer.should_stop = True


def test_lightning_trainer_runs_to_total_timesteps_and_resumes(tmp_path):
    def trainer(*callbacks) -> L.Trainer:
        return L.Trainer(
            max_epochs=-1,
            logger=False,
            enable_checkpointing=False,
            enable_progress_bar=False,
            enable_model_summary=False,
            accelerator="cpu",
            log_every_n_steps=1,
            callbacks=list(callbacks),
        )

    market = make_toy_market()
    straight = PPO(_cfg(total_timesteps=768), market)
    fit = trainer()
    fit.fit(straight)
    assert straight.iterations == 3 and straight.env_steps == 768
    assert "train/env_steps_per_sec" in fit.callback_metrics

    killed = PPO(_cfg(total_timesteps=768), market)
    part = trainer(_StopAfter(2))
    part.fit(killed)
    assert killed.iterations == 2
    part.save_checkpoint(tmp_path / "two.ckpt")
    resumed = PPO(_cfg(total_timesteps=768), market)
    trainer().fit(resumed, ckpt_path=tmp_path / "two.ckpt")
    assert resumed.iterations == 3 and resumed.env_steps == 768
    assert torch.equal(_params(resumed), _params(straight))


def test_nan_loss_stops_before_the_optimizer_step():
    module = PPO(_cfg(), make_toy_market())
    optimizer = module.configure_optimizers()
    module.run_iteration(optimizer)
    with torch.no_grad():
        module.policy.body.vf_head.bias.fill_(torch.nan)
    before = _params(module)
    with pytest.raises(TrainingDiverged, match=r"^iteration 2: \w+ is nan"):
        module.run_iteration(optimizer)
    assert torch.equal(_params(module).nan_to_num(), before.nan_to_num())


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("algo.n_envs", 0),
        ("algo.gamma", 1.5),
        ("algo.clip_coef", 0.0),
        ("algo.target_kl", -0.1),
        ("algo.ent_coef", -0.01),
        ("algo.num_minibatches", 10_000),
        ("algo.clip_vloss", "yes"),
        ("algo.learning_rate", "fast"),
    ],
)
def test_bad_algo_config_names_the_key(key, value):
    with pytest.raises(ConfigError, match=f"^{key}:"):
        PPO(_cfg(**{key: value}), make_toy_market())


def _rising_and_falling_market():
    """Asset 0 rises 0.5% a day, asset 1 falls 0.5%: buying 0 and never 1 is plainly right."""
    market = make_toy_market(n_days=200, n_assets=2, n_features=3)
    t = torch.arange(market.n_days, dtype=torch.float64)
    close = torch.stack((50 * 1.005**t, 50 * 0.995**t), dim=1)
    return dataclasses.replace(market, close=close, fill=close.clone())


@pytest.mark.slow  # tests/test_learning_synthetic.py keeps a learning test in the default suite
def test_learns_to_buy_the_rising_asset():
    market = _rising_and_falling_market()
    overrides = {
        "model.actor": "joint",  # the edge is the asset's identity: a per-asset head is blind to it
        "ent_coef": 0.0,
        "total_timesteps": 10 * 1024,
        "algo.n_envs": 32,
        "algo.n_steps": 32,
        "algo.learning_rate": 1e-3,
        # Many small steps: the MLP's 2 epochs x 4 minibatches suit its 16,384-sample
        # rollouts; on these 1,024-sample ones they make 80 steps in all (buy 0.48, not > 0.7).
        "algo.update_epochs": 4,
        "algo.num_minibatches": 32,
        "env.episode_days": 32,
    }
    cfg = _cfg(**overrides)
    module = PPO(cfg, market)
    optimizer = module.configure_optimizers()
    fresh = CompactObs(torch.arange(20, 80), fresh_portfolio(2, market.device).expand(60, -1))
    dist0, _ = module.policy(fresh, module.env.obs_builder)
    stats = [module.run_iteration(optimizer) for _ in range(10)]
    dist, _ = module.policy(fresh, module.env.obs_builder)
    buy = dist.probs[:, :, BUY].mean(dim=0)
    assert dist0.probs[:, 0, BUY].mean().item() < 0.4
    assert buy[0].item() > 0.7 and buy[1].item() < 0.1
    assert stats[-1]["episode_return"] > stats[0]["episode_return"] + 2.0


def test_the_rollout_table_refuses_days_outside_its_range():
    """A restored env state on days the table does not hold (another split) fails loudly
    instead of reading another day's encoding."""
    from ploutos.obs.compact import CompactObs

    module = PPO(_cfg(), make_toy_market())
    assert module.use_table
    val = module.env.market.split("val")
    module.next_obs = CompactObs(
        torch.full_like(module.next_obs.day, val.start + 5), module.next_obs.portfolio
    )
    with pytest.raises(IndexError, match="outside the training split's observable days"):
        module.collect_rollout()


def test_a_one_sample_minibatch_keeps_the_loss_finite() -> None:
    """Minibatches by day can hold one sample: its advantage is used as is (no std to
    normalize by), as SB3 does, and a two-sample minibatch is still normalized."""
    one = torch.tensor([0.7])
    kwargs = dict(clip_coef=0.2, clip_vloss=True, vf_coef=0.5, ent_coef=0.0, norm_adv=True)
    loss, stats = ppo_loss(one * 0, one * 0, one, one * 0, one * 0, one, one * 0, **kwargs)
    assert torch.isfinite(loss) and float(stats["policy_loss"]) == pytest.approx(-0.7)
    two = torch.tensor([1.0, 3.0])
    _, stats = ppo_loss(two * 0, two * 0, two, two * 0, two * 0, two, two * 0, **kwargs)
    assert float(stats["policy_loss"]) == pytest.approx(0.0, abs=1e-7)  # normalized: mean 0
