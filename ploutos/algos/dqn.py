"""DQN on per-asset discrete actions: a branching dueling Q-network (one advantage branch per
asset, see ploutos.models.q_network), double-Q n-step targets, a target network and
epsilon-greedy exploration, over uniform or prioritized replay (ploutos.algos.replay).

Target of a transition (s, a, G, gamma^m, s') for every branch d, as in Tavakoli et al.'s
BDQ: the online net chooses, the target net values, and the branches' values are averaged
into one shared target

    y = G + gamma^m * (1 / A) * sum_d Q^target_d(s', argmax_a Q^online_d(s', a)),

the loss is the Huber loss of y - Q_d(s, a_d) averaged over branches, weighted by the
importance weights, and a transition's new priority is the mean over branches of |TD|.
Exploration draws each asset's sub-action at random with probability epsilon, decayed
linearly from exploration_initial_eps to exploration_final_eps over exploration_fraction of
total_timesteps (SB3's schedule). The target net follows the online net by polyak averaging
with tau every target_update_interval gradient steps (tau 1: a hard copy).
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F
from omegaconf import DictConfig

from ploutos.algos.config import positive_floats, positive_ints, unit_interval
from ploutos.algos.off_policy import OffPolicyAlgorithm
from ploutos.algos.optim import adam
from ploutos.algos.replay import Transitions
from ploutos.env.types import N_DISCRETE_ACTIONS
from ploutos.errors import ConfigError
from ploutos.models.q_network import BranchingQNetwork
from ploutos.obs.compact import CompactObs

# Days per encoder call when the target's table is built (bounds the call's memory).
TABLE_CHUNK = 512


def double_q_targets(
    online: Callable[[CompactObs, Any], torch.Tensor],
    target: Callable[[CompactObs, Any], torch.Tensor],
    batch: Transitions,
    obs_builder,
) -> torch.Tensor:
    """y [B]: n-step return + discount x mean over branches of the target net's value of the
    online net's greedy sub-action at s' (online, target: Q-values [B, A, 3] of an obs)."""
    with torch.no_grad():
        choice = online(batch.next_obs, obs_builder).argmax(dim=-1, keepdim=True)
        valued = target(batch.next_obs, obs_builder).gather(-1, choice).squeeze(-1)
        return batch.returns + batch.discounts * valued.mean(dim=-1)


class DQN(OffPolicyAlgorithm):
    name = "dqn"

    @classmethod
    def validate_config(cls, algo: DictConfig) -> None:
        super().validate_config(algo)
        positive_ints(algo, ("target_update_interval",))
        positive_floats(algo, ("max_grad_norm", "learning_rate"))
        unit_interval(
            algo, ("exploration_fraction", "exploration_initial_eps", "exploration_final_eps")
        )
        if algo.get("policy") != "branching_q":
            raise ConfigError(
                "algo.policy", f"dqn trains 'branching_q', got {algo.get('policy')!r}"
            )

    def on_env_attached(self) -> None:
        super().on_env_attached()
        # The target net moves only every target_update_interval gradient steps, so its
        # market encoding of every day the replay can hold (the split's days) is computed
        # once per target update and read by index in between, where that costs less than
        # encoding each batch's next days (the benchmark's 5,460 days once per 250 steps,
        # instead of ~250 days every step). A day's encoding does not depend on the days
        # encoded beside it: the same numbers (bit for bit on CPU here; the tests allow
        # float rounding).
        interval = int(self.hp.target_update_interval)
        self.use_target_table = len(self.rollout_days) <= interval * int(self.hp.batch_size)
        self.target_table: torch.Tensor | None = None

    def build_policy(self) -> BranchingQNetwork:
        policy = super().build_policy()
        self.target_q = copy.deepcopy(policy).requires_grad_(False)
        # New target weights (a checkpoint loaded into the module) invalidate the table.
        self.target_q.register_load_state_dict_post_hook(self._drop_target_table)
        return policy

    def _drop_target_table(self, *_: Any) -> None:
        self.target_table = None

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return adam(self.policy.parameters(), float(self.hp.learning_rate))

    def target_values(self, obs: CompactObs, obs_builder) -> torch.Tensor:
        """Q^target(obs) [B, A, 3], from the target's table of market encodings when it
        keeps one (see on_env_attached)."""
        if not self.use_target_table:
            return self.target_q(obs, obs_builder)
        if self.target_table is None:
            with torch.no_grad():
                self.target_table = torch.cat(
                    [
                        self.target_q.encode_distinct_days(obs_builder, chunk)
                        for chunk in self.rollout_days.split(TABLE_CHUNK)
                    ]
                )
        market = self.target_table.index_select(0, obs.day - self.env.first_day)
        return self.target_q.q_from_encoding(market, obs.portfolio)

    def epsilon(self) -> float:
        a = self.hp
        start, end = float(a.exploration_initial_eps), float(a.exploration_final_eps)
        fraction = float(a.exploration_fraction)
        done = 1.0 if fraction == 0.0 else min(1.0, self.progress() / fraction)
        return start + (end - start) * done

    def behaviour_actions(self, obs: CompactObs) -> torch.Tensor:
        greedy = self.policy(obs, self.env.obs_builder).argmax(dim=-1)
        explore = torch.rand(greedy.shape, device=greedy.device) < self.epsilon()
        random = torch.randint_like(greedy, N_DISCRETE_ACTIONS)
        return torch.where(explore, random, greedy)

    def gradient_step(self, optimizer: torch.optim.Optimizer, beta: float):
        a, builder = self.hp, self.env.obs_builder
        batch, slots, weights = self.replay.sample(int(a.batch_size), beta)
        targets = double_q_targets(self.policy, self.target_values, batch, builder)
        q = self.policy(batch.obs, builder)
        taken = q.gather(-1, batch.actions.long().unsqueeze(-1)).squeeze(-1)  # [B, A]
        td = targets.unsqueeze(-1) - taken
        per_sample = F.smooth_l1_loss(
            taken, targets.unsqueeze(-1).expand_as(taken), reduction="none"
        )
        loss = (weights * per_sample.mean(dim=-1)).mean()
        optimizer.zero_grad(set_to_none=True)
        self.backward_loss(loss)
        grad_norm = torch.nn.utils.clip_grad_norm_(self.policy.parameters(), float(a.max_grad_norm))
        stats = {
            "q_loss": loss.detach(),
            "q_mean": taken.detach().mean(),
            "td_abs": td.detach().abs().mean(),
            "grad_norm": grad_norm.detach(),
        }
        self.check_finite(stats)
        optimizer.step()
        self.replay.update_priorities(slots, td.detach().abs().mean(dim=-1))
        if (self.gradient_step_count + 1) % int(a.target_update_interval) == 0:
            self.soft_update(self.target_q, self.policy, float(a.tau))
            self.target_table = None
        return stats

    def train_iteration(self, optimizer):
        stats = super().train_iteration(optimizer)
        stats["epsilon"] = self.epsilon()
        return stats
