"""make_policy: the network an algorithm trains and a checkpoint's weights load into.

`algo.policy` names the family (absent: the actor-critic), so the training module and
`load_checkpoint` build the same network from the same config:

- actor_critic: PPO, A2C, REINFORCE (ploutos.models.policy);
- branching_q: DQN's branching dueling Q-network (ploutos.models.q_network), per-asset
  discrete actions only;
- squashed_gaussian: SAC's actor and twin critics (ploutos.models.sac), target weights only;
  `algo.action_scale` bounds the logits.
"""

from __future__ import annotations

from types import SimpleNamespace

from omegaconf import DictConfig

from ploutos.env.actions import ActionSpace, make_action_space
from ploutos.errors import ConfigError
from ploutos.models import policy as actor_critic
from ploutos.models.policy import ActorCritic, ObsBuilderLike
from ploutos.models.q_network import BranchingQNetwork
from ploutos.models.sac import SquashedGaussianPolicy

POLICIES = ("actor_critic", "branching_q", "squashed_gaussian")


def _require(space: ActionSpace, discrete: bool, family: str, modes: str) -> None:
    if (space.cash_output or space.learned_log_std) == discrete:
        raise ConfigError(
            "env.action_mode",
            f"algo.policy '{family}' takes {modes} actions, got '{space.name}'",
        )


def make_policy(
    cfg: DictConfig, obs_builder: ObsBuilderLike, action_space: ActionSpace
) -> ActorCritic:
    """The network of cfg.algo.policy for the model group cfg.model (cfg is the root)."""
    algo = cfg.get("algo") or {}
    family = algo.get("policy", "actor_critic")
    if family == "actor_critic":
        return actor_critic.make_policy(cfg, obs_builder, action_space)
    if family == "branching_q":
        _require(action_space, True, family, "per-asset discrete (discrete, sized)")
        net = actor_critic.make_policy(cfg, obs_builder, action_space)
        return BranchingQNetwork(net.body, action_space, unique_days=net.unique_days)
    if family == "squashed_gaussian":
        _require(action_space, False, family, "target-weight (weights)")
        actor = actor_critic.make_policy(cfg, obs_builder, action_space)
        # The critics read [portfolio | action]; only their value heads are used.
        shapes = SimpleNamespace(
            name=obs_builder.name,
            market_shape=obs_builder.market_shape,
            portfolio_dim=obs_builder.portfolio_dim + action_space.shape[0],
        )
        value_space = make_action_space("discrete", action_space.n_assets)
        critics = [actor_critic.make_policy(cfg, shapes, value_space) for _ in range(2)]
        return SquashedGaussianPolicy(
            actor,
            critics,
            action_scale=float(algo.get("action_scale", 3.0)),
            init_log_std=float(cfg.model.get("init_log_std", -0.5)),
        )
    raise ConfigError("algo.policy", f"must be one of {POLICIES}, got {family!r}")
