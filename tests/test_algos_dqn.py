"""DQN: the double-Q branching target by hand, the network's dueling heads, the Policy
contract, exploration, resume with the replay buffer, and the action-mode check."""

from __future__ import annotations

import io

import pytest
import torch
from conftest import compose_config, make_toy_market

from ploutos.algos.dqn import DQN, double_q_targets
from ploutos.algos.replay import Transitions
from ploutos.errors import ConfigError
from ploutos.models.policy import Policy
from ploutos.models.q_network import BranchingQNetwork
from ploutos.obs.compact import CompactObs


def dqn_cfg(*overrides: str):
    """conf/algo/dqn.yaml on v6 + mlp at toy sizes (the market is passed in, not built)."""
    return compose_config(
        "train",
        [
            "algo=dqn", "obs=v6", "model=mlp", "reward=pnl", "seed=7",
            "total_timesteps=4000", "ent_coef=0.0", "env.episode_days=20",
            "model.hidden_sizes=[16,16]", "algo.n_envs=8", "algo.n_steps=4",
            "algo.buffer_size=500", "algo.learning_starts=64", "algo.batch_size=32",
            *overrides,
        ],
    )  # fmt: skip


class TableQ(torch.nn.Module):
    """A stand-in Q-net: Q(s') read from a table by the next day index."""

    def __init__(self, table: torch.Tensor) -> None:
        super().__init__()
        self.table = table

    def forward(self, obs, obs_builder):
        return self.table[obs.day]


def test_double_q_target_by_hand_online_chooses_and_target_values():
    # Two transitions, two assets: online and target nets disagree on the best sub-action.
    online = TableQ(
        torch.tensor([[[0.0, 5.0, 1.0], [2.0, 0.0, 3.0]], [[9.0, 0.0, 0.0], [0.0, 0.0, 1.0]]])
    )
    target = TableQ(
        torch.tensor([[[4.0, 1.0, 8.0], [7.0, 6.0, 2.0]], [[0.5, 3.0, 9.0], [1.0, 2.0, 4.0]]])
    )
    obs = CompactObs(torch.tensor([0, 1]), torch.zeros(2, 3))
    batch = Transitions(
        obs,
        torch.zeros(2, 2, dtype=torch.int8),
        torch.tensor([1.0, -0.5]),
        torch.tensor([0.9**3, 0.0]),  # the second terminated: no bootstrap
        CompactObs(torch.tensor([0, 1]), torch.zeros(2, 3)),
    )
    y = double_q_targets(online, target, batch, None)
    # Row 0: online picks (1, 2) -> target values (1.0, 2.0), mean 1.5. Row 1: terminated.
    assert torch.allclose(y, torch.tensor([1.0 + 0.729 * 1.5, -0.5]))
    # Valuing with the target's own argmax (plain DQN) would give mean(8, 7) = 7.5.
    assert not torch.allclose(y[0], torch.tensor(1.0 + 0.729 * 7.5))


def test_q_network_is_a_dueling_branching_policy():
    module = DQN(dqn_cfg(), make_toy_market(n_days=120))
    q_net, builder, obs = module.policy, module.env.obs_builder, module.next_obs
    assert isinstance(q_net, BranchingQNetwork) and isinstance(q_net, Policy)
    q = q_net(obs, builder)
    assert q.shape == (8, 4, 3)
    adv, value = q_net.body.decide(q_net.encode_market(builder, obs.day), obs.portfolio)
    # Each branch's mean over sub-actions is the shared state value.
    assert torch.allclose(q.mean(dim=-1), value.unsqueeze(-1).expand(8, 4), atol=1e-6)
    assert torch.equal(q_net.act(obs, builder), q.argmax(-1))
    probs = q_net.action_probs(obs, builder)
    assert torch.equal(probs.argmax(-1), q.argmax(-1)) and torch.equal(
        probs.sum(-1), torch.ones(8, 4)
    )
    assert torch.allclose(q_net.value(obs, builder), q.amax(-1).mean(-1))


def test_epsilon_schedule_and_exploration():
    module = DQN(dqn_cfg("algo.exploration_fraction=0.5"), make_toy_market(n_days=120))
    assert module.epsilon() == 1.0
    module.env_steps = 1000  # a quarter of the way through the decay
    assert module.epsilon() == pytest.approx(1.0 + (0.05 - 1.0) * 0.5)
    module.env_steps = 4000
    assert module.epsilon() == pytest.approx(0.05)
    torch.manual_seed(0)
    greedy = module.policy.act(module.next_obs, module.env.obs_builder)
    module.env_steps = 0  # epsilon 1: every sub-action uniformly random
    draws = torch.stack([module.behaviour_actions(module.next_obs) for _ in range(300)])
    share = torch.stack([(draws == k).float().mean() for k in range(3)])
    assert torch.allclose(share, torch.full((3,), 1 / 3), atol=0.03)
    module.env_steps = 4000
    explored = torch.stack([module.behaviour_actions(module.next_obs) for _ in range(300)])
    assert 0.02 < float((explored != greedy).float().mean()) < 0.05  # 0.05 * 2/3


def _params(module) -> torch.Tensor:
    return torch.cat([p.detach().flatten() for p in module.policy.parameters()])


@pytest.mark.parametrize("replay", ["uniform", "prioritized"])
def test_resume_with_the_replay_buffer_matches_a_straight_run(replay):
    market = make_toy_market(n_days=120)
    cfg = dqn_cfg(f"algo.replay={replay}", "algo.target_update_interval=3")
    straight = DQN(cfg, market)
    optimizer = straight.configure_optimizers()
    for _ in range(3):
        straight.run_iteration(optimizer)
    assert straight.gradient_step_count > 0  # learning started before the save
    saved = {"state_dict": straight.state_dict(), "optimizer": optimizer.state_dict()}
    straight.on_save_checkpoint(saved)
    buffer = io.BytesIO()
    torch.save(saved, buffer)
    expected = [straight.run_iteration(optimizer) for _ in range(2)]

    buffer.seek(0)
    loaded = torch.load(buffer, weights_only=True)
    torch.manual_seed(123)
    resumed = DQN(cfg, market)
    resumed.load_state_dict(loaded["state_dict"])
    resumed_optimizer = resumed.configure_optimizers()
    resumed_optimizer.load_state_dict(loaded["optimizer"])
    resumed.on_load_checkpoint(loaded)
    assert len(resumed.replay) == len(straight.replay) - 2 * 32
    got = [resumed.run_iteration(resumed_optimizer) for _ in range(2)]
    for a, b in zip(expected, got, strict=True):
        for key in ("q_loss", "td_abs", "replay_size", "per_beta"):
            assert a[key] == b[key], key
    assert torch.equal(_params(resumed), _params(straight))
    targets = [m.target_q.state_dict() for m in (straight, resumed)]
    assert all(torch.equal(targets[0][k], targets[1][k]) for k in targets[0])


def _train(module: DQN, iterations: int) -> list[dict[str, float]]:
    optimizer = module.configure_optimizers()
    return [module.run_iteration(optimizer) for _ in range(iterations)]


def test_target_table_serves_the_target_nets_values_and_follows_its_updates():
    # 50 training days <= 3 gradient steps x 32 samples: the table pays for itself.
    module = DQN(dqn_cfg("algo.target_update_interval=3"), make_toy_market(n_days=120))
    assert module.use_target_table and len(module.rollout_days) == 50
    _train(module, 3)
    builder = module.env.obs_builder
    batch, _, _ = module.replay.sample(64)
    direct = module.target_q(batch.next_obs, builder)
    assert torch.allclose(module.target_values(batch.next_obs, builder), direct, atol=1e-6)
    # A target update drops the table; the next read encodes the new target weights.
    count = module.gradient_step_count
    _train(module, 1)
    assert module.gradient_step_count // 3 > count // 3  # an update happened
    moved = module.target_q(batch.next_obs, builder)
    assert not torch.allclose(moved, direct)
    assert torch.allclose(module.target_values(batch.next_obs, builder), moved, atol=1e-6)
    # So does loading other weights into the module.
    other = DQN(dqn_cfg("algo.target_update_interval=3", "seed=8"), make_toy_market(n_days=120))
    module.load_state_dict(other.state_dict())
    assert module.target_table is None
    again = module.target_values(batch.next_obs, builder)
    assert torch.allclose(again, other.target_q(batch.next_obs, builder), atol=1e-6)


def test_training_with_the_target_table_matches_training_without():
    market = make_toy_market(n_days=120)
    runs = []
    for use_table in (True, False):
        module = DQN(dqn_cfg("algo.target_update_interval=3"), market)
        module.use_target_table = use_table
        runs.append((_train(module, 5), _params(module)))
    (with_table, params), (without, params_without) = runs
    assert with_table[-1]["gradient_steps"] == without[-1]["gradient_steps"] > 6
    pairs = zip(with_table, without, strict=True)
    losses = [(a["q_loss"], b["q_loss"]) for a, b in pairs if "q_loss" in b]
    assert len(losses) >= 2
    assert all(a == pytest.approx(b, rel=1e-5) for a, b in losses)
    assert torch.allclose(params, params_without, atol=1e-6)


def test_dqn_refuses_weights_actions():
    with pytest.raises(ConfigError, match="^env.action_mode:.*branching_q"):
        DQN(dqn_cfg("env.action_mode=weights"), make_toy_market(n_days=120))


def test_bad_replay_kind_names_the_key():
    with pytest.raises(ConfigError, match="^algo.replay:"):
        DQN.validate_config(dqn_cfg("algo.replay=ring").algo)
