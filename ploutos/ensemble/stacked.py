"""One batched decision for ensemble members of one MLP architecture, inside a market table.

Inside `Ensemble.market_table` each member's market encodings are a table (its ActorCritic
table: [D, 2H] for the joint MLP, [D, A + 1, H] for the per-asset one). When the active
members are v6 MLPs of one kind and shape (same actor, hidden sizes, asset encoder size and
action space; only the weights differ, as in a multirun over seeds), their tables and
decision weights are stacked along a member axis and a step runs the members' decisions as
one batch: [M, N, ...] tensors, one batched matmul per layer (torch.bmm / baddbmm over the
member axis) instead of one small matmul per member. A step of M members then costs about
one member's dispatch overhead, not M of them.

The arithmetic is each member's own, operation for operation (MLPBody.decide or
PerAssetMLPBody.decide, then the action space's distribution): the first layer's market part
read from the member's table plus its portfolio part, tanh, the policy trunk and head,
per-asset log-softmax, the mode; the value trunk runs only when values are asked for. A
batched matmul can still round differently from the member's own: torch picks its kernel by
shape (a small bmm sums in another order than mm). So the first step with each batch size N
compares the batch's output (actions, probabilities or values) with the members' own
(torch.equal) and keeps the batch for that output and N only if it is bit-identical;
otherwise the members run one by one as before (the value head, 64 -> 1, rounds differently
at N = 1, for example). Copies of one checkpoint therefore still act exactly as it does.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from ploutos.env.actions import ActionSpace
from ploutos.env.distributions import PerAssetCategorical
from ploutos.models.layers import split_portfolio
from ploutos.models.mlp import MLPBody
from ploutos.models.per_asset import PerAssetMLPBody
from ploutos.models.policy import ActorCritic, ObsBuilderLike
from ploutos.obs.compact import CompactObs

Layer = tuple[torch.Tensor, torch.Tensor] | None  # (weight [M, out, in], bias [M, 1, out]) or tanh


def _layers(sequences: Sequence[nn.Module]) -> list[Layer] | None:
    """The members' Linear/Tanh stacks as stacked weights, or None when they differ."""
    modules = [list(s.modules())[1:] if isinstance(s, nn.Sequential) else [s] for s in sequences]
    if len({len(m) for m in modules}) != 1:
        return None
    layers: list[Layer] = []
    for position in zip(*modules, strict=True):
        if all(isinstance(m, nn.Tanh) for m in position):
            layers.append(None)
        elif all(isinstance(m, nn.Linear) and m.bias is not None for m in position):
            if len({tuple(m.weight.shape) for m in position}) != 1:
                return None
            weight = torch.stack([m.weight.detach() for m in position])
            bias = torch.stack([m.bias.detach() for m in position]).unsqueeze(1)
            layers.append((weight, bias))
        else:
            return None
    return layers


def _stacked_layers(bodies: Sequence[nn.Module], names: Sequence[str]) -> list[list[Layer]] | None:
    """_layers of the bodies' modules of each name, or None when any of them differ."""
    stacks = [_layers([getattr(body, name) for body in bodies]) for name in names]
    return None if any(stack is None for stack in stacks) else stacks


def _shared_table(members: Sequence[ActorCritic]) -> tuple[int, torch.Tensor] | None:
    """(first day, [M, D, ...]) of the members' open market tables (ActorCritic._table), or
    None when they start on different days or differ in shape."""
    tables = [m._table for m in members]
    if len({first for first, _ in tables}) != 1 or len({t.shape for _, t in tables}) != 1:
        return None
    return tables[0][0], torch.stack([t for _, t in tables])


def _run(layers: list[Layer], x: torch.Tensor) -> torch.Tensor:
    for layer in layers:
        if layer is None:
            x = torch.tanh(x)
        else:
            weight, bias = layer
            x = torch.baddbmm(bias, x, weight.transpose(1, 2))  # nn.Linear per member
    return x


class StackedMembers:
    """The active members' deterministic decisions, probabilities and values as one batch;
    `build` gives None where they cannot be stacked (another model, another shape, no
    market table open). Sampling stays with each member (its draws from the global RNG)."""

    def __init__(
        self,
        members: Sequence[ActorCritic],
        first_day: int,
        table: torch.Tensor,
        portfolio_weight: torch.Tensor,
        policy: list[Layer],
        value: list[Layer],
    ) -> None:
        self.members = list(members)
        self.space: ActionSpace = members[0].action_space
        self.first_day = first_day
        self.table = table  # [M, D, 2H]
        self.portfolio_weight = portfolio_weight  # [M, 2H, P]
        self.policy = policy  # trunk then head
        self.value_layers = value
        self.exact: dict[tuple[str, int], bool] = {}  # (output, batch size): members' bits?

    @classmethod
    def build(cls, members: Sequence[nn.Module]) -> StackedMembers | None:
        if len(members) < 2 or not all(
            isinstance(m, ActorCritic) and m._table is not None for m in members
        ):
            return None
        kinds = {type(m.body) for m in members}
        if kinds == {PerAssetMLPBody}:
            return StackedPerAssetMembers.build(members)
        if kinds != {MLPBody}:
            return None
        bodies: list[MLPBody] = [m.body for m in members]
        table = _shared_table(members)  # [M, D, 2H]
        if table is None or len({tuple(b.portfolio_in.weight.shape) for b in bodies}) != 1:
            return None
        stacks = _stacked_layers(bodies, ("pi_trunk", "pi_head", "vf_trunk", "vf_head"))
        if stacks is None:
            return None
        policy, policy_head, value, value_head = stacks
        return cls(
            members,
            *table,
            torch.stack([b.portfolio_in.weight.detach() for b in bodies]),
            policy + policy_head,
            value + value_head,
        )

    def usable(self, kind: str, obs: CompactObs, builders: Sequence[ObsBuilderLike]) -> bool:
        """Whether the batch's `kind` of output ("modes", "probabilities" or "values") is the
        members' own, bit for bit, at this batch size: checked on the first step of each
        size, against each member on its builder."""
        key = (kind, int(obs.day.shape[0]))
        if key not in self.exact:
            pairs = list(zip(self.members, builders, strict=True))
            own = {
                "modes": lambda m, b: m.act(obs, b, deterministic=True),
                "probabilities": lambda m, b: m.action_probs(obs, b),
                "values": lambda m, b: m.value(obs, b),
            }[kind]
            batched = getattr(self, kind)(obs.day, obs.portfolio)
            self.exact[key] = torch.equal(batched, torch.stack([own(m, b) for m, b in pairs]))
        return self.exact[key]

    def _hidden(self, day: torch.Tensor, portfolio: torch.Tensor) -> torch.Tensor:
        """[M, N, 2H]: tanh(market part + portfolio part) of each member's first layer."""
        market = self.table[:, day - self.first_day]
        members = self.table.shape[0]
        part = torch.bmm(portfolio.expand(members, *portfolio.shape),
                         self.portfolio_weight.transpose(1, 2))  # fmt: skip
        return torch.tanh(market + part)

    def params(self, day: torch.Tensor, portfolio: torch.Tensor) -> torch.Tensor:
        """[M, N, action dim]: each member's action parameters (policy head outputs)."""
        h_pi, _ = self._hidden(day, portfolio).chunk(2, dim=-1)
        return _run(self.policy, h_pi)

    def values(self, day: torch.Tensor, portfolio: torch.Tensor) -> torch.Tensor:
        """[M, N]: each member's value."""
        _, h_vf = self._hidden(day, portfolio).chunk(2, dim=-1)
        return _run(self.value_layers, h_vf).squeeze(-1)

    def modes(self, day: torch.Tensor, portfolio: torch.Tensor) -> torch.Tensor:
        """[M, N, A] int64 (discrete) or [M, N, A + 1] logits: each member's deterministic
        action, as ActorCritic.act(deterministic=True) gives it."""
        params = self.params(day, portfolio)
        if self.space.name == "discrete":
            return self._categorical(params).mode()
        return params  # DiagGaussian's mode is its mean

    def probabilities(self, day: torch.Tensor, portfolio: torch.Tensor) -> torch.Tensor:
        """[M, N, A, 3] per-asset probabilities or [M, N, A + 1] target weights."""
        params = self.params(day, portfolio)
        if self.space.name == "discrete":
            return self._categorical(params).probs
        return torch.softmax(params, dim=-1)

    def _categorical(self, params: torch.Tensor) -> PerAssetCategorical:
        members, n = params.shape[:2]
        return PerAssetCategorical(params.reshape(members, n, self.space.n_assets, -1))


class StackedPerAssetMembers(StackedMembers):
    """StackedMembers for per-asset MLP members (PerAssetMLPBody.decide, batched): the
    table is [M, D, A + 1, H] (the actor's per-asset rows, then the critic's)."""

    def __init__(
        self,
        members: Sequence[ActorCritic],
        first_day: int,
        table: torch.Tensor,
        actor_in: torch.Tensor,
        critic_portfolio: torch.Tensor,
        policy: list[Layer],
        head: list[Layer],
        cash_head: list[Layer] | None,
        value: list[Layer],
    ) -> None:
        # portfolio_weight: the portfolio columns of the critic's first layer [M, H, P].
        super().__init__(members, first_day, table, critic_portfolio, policy, value)
        self.n_assets = members[0].body.n_assets
        self.day_dim = members[0].body.day_dim
        self.actor_in = actor_in  # [M, H, day + 2 + global]: the actor's first layer
        self.head = head
        self.cash_head = cash_head

    @classmethod
    def build(cls, members: Sequence[ActorCritic]) -> StackedPerAssetMembers | None:
        bodies: list[PerAssetMLPBody] = [m.body for m in members]
        table = _shared_table(members)  # [M, D, A + 1, H]
        shapes = {(b.n_assets, b.day_dim, b.cash_head is None, b.pi_in.weight.shape,
                   b.vf_in.weight.shape) for b in bodies}  # fmt: skip
        if table is None or len(shapes) != 1:
            return None
        names = ["pi_trunk", "pi_head", "vf_trunk", "vf_head"]
        if bodies[0].cash_head is not None:
            names.append("cash_head")
        stacks = _stacked_layers(bodies, names)
        if stacks is None:
            return None
        trunk, head, value, value_head, *cash = stacks
        day_dim = bodies[0].day_dim
        return cls(
            members,
            *table,
            torch.stack([b.pi_in.weight.detach() for b in bodies]),
            torch.stack([b.vf_in.weight.detach()[:, day_dim:] for b in bodies]),
            trunk,
            head,
            cash[0] if cash else None,
            value + value_head,
        )

    def params(self, day: torch.Tensor, portfolio: torch.Tensor) -> torch.Tensor:
        """[M, N, action dim], as each member's decide: per-asset logits (then the cash one)."""
        a, d = self.n_assets, self.day_dim
        market = self.table[:, day - self.first_day]  # [M, N, A + 1, H]
        members, n = market.shape[:2]
        per_asset, global_state = split_portfolio(portfolio, a)
        weight = self.actor_in.transpose(1, 2)  # [M, in, H]
        state = torch.bmm(per_asset.reshape(1, n * a, 2).expand(members, -1, -1),
                          weight[:, d : d + 2]).view(members, n, a, -1)  # fmt: skip
        state = state + torch.bmm(global_state.expand(members, *global_state.shape),
                                  weight[:, d + 2 :]).unsqueeze(2)  # fmt: skip
        hidden = _run(self.policy, torch.tanh(market[:, :, :a] + state).flatten(1, 2))
        outputs = _run(self.head, hidden).view(members, n, a, -1)
        if self.cash_head is None:
            return outputs.flatten(2)
        cash = _run(self.cash_head, hidden.view(members, n, a, -1).mean(dim=2))
        return torch.cat((outputs.squeeze(-1), cash), dim=-1)

    def values(self, day: torch.Tensor, portfolio: torch.Tensor) -> torch.Tensor:
        """[M, N]: each member's value."""
        market = self.table[:, day - self.first_day, self.n_assets]  # [M, N, H]
        members = market.shape[0]
        state = torch.bmm(portfolio.expand(members, *portfolio.shape),
                          self.portfolio_weight.transpose(1, 2))  # fmt: skip
        return _run(self.value_layers, torch.tanh(market + state)).squeeze(-1)
