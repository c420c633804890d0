"""Replay for the off-policy learners: a torch sum-tree, uniform and prioritized buffers of
COMPACT transitions, and the n-step return window that feeds them.

A transition is (day, portfolio, action, n-step return, discount, next day, next portfolio):
the market part of an observation is re-rendered from the day index when a batch is sampled,
so a buffer costs O(capacity x portfolio state) whatever the observation (v6 features or v7
windows). Everything lives on the env's device; sampling draws from the global torch RNG,
which the Algorithm base checkpoints, so a resumed run samples the batches a straight run
would.

Prioritized replay is Schaul et al. (2016), proportional variant: a transition's priority is
p = (|delta| + eps)^alpha, it is drawn with probability p / sum p (one independent prefix-sum
search per draw), its importance weight is (size * P(i))^-beta divided by the batch's
largest, and a new transition enters at the largest priority seen so far.
"""

from __future__ import annotations

from typing import NamedTuple

import torch

from ploutos.obs.compact import CompactObs


class SumTree:
    """Non-negative values of `capacity` slots and their sums, in a tree of fan-out k.

    Level 0 is the root; the children of node j of a level are nodes k*j .. k*j + k - 1 of
    the level below, and the last level holds the slots (every level but the root is padded
    with zeros to a multiple of k). All levels are views of one flat `tree` tensor. Sums are
    float64 so that a million priorities add up without drift. An update rewrites each
    touched parent from its k children, level by level, so duplicate slots in one update are
    harmless as long as they carry the same value, and the tree equals one rebuilt from its
    leaves bit for bit.

    A wide node costs one gather of its k children per level instead of one per binary
    level: a search or an update over a million slots runs 4 levels at k = 32, not 20, and
    on small batches the per-level kernel launches, not the arithmetic, are the cost.
    """

    def __init__(self, capacity: int, device: torch.device | str, fanout: int = 32) -> None:
        self.capacity, self.fanout = int(capacity), int(fanout)
        k, sizes, n = self.fanout, [], self.capacity
        while True:
            n = -(-n // k) * k
            sizes.append(n)
            n //= k
            if n == 1:
                break
        sizes.append(1)
        sizes.reverse()
        self.tree = torch.zeros(sum(sizes), dtype=torch.float64, device=device)
        self.levels = list(self.tree.split(sizes))

    @property
    def total(self) -> torch.Tensor:
        return self.levels[0][0]

    def leaves(self, slots: torch.Tensor) -> torch.Tensor:
        return self.levels[-1].index_select(0, slots)

    def _parents_and_children(self) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """(parent level, its children as rows of k) from the leaves up."""
        k = self.fanout
        return [
            (parent, children.view(-1, k))
            for parent, children in zip(self.levels[-2::-1], self.levels[:0:-1], strict=True)
        ]

    def update(self, slots: torch.Tensor, values: torch.Tensor) -> None:
        node = slots
        self.levels[-1].index_copy_(0, node, values.to(torch.float64))
        for parent, children in self._parents_and_children():
            node = node // self.fanout
            parent.index_copy_(0, node, children.index_select(0, node).sum(dim=1))

    def rebuild(self, values: torch.Tensor) -> None:
        """Set the first len(values) leaves (the others 0) and recompute every sum."""
        self.tree.zero_()
        self.levels[-1][: values.numel()] = values.to(torch.float64)
        for parent, children in self._parents_and_children():
            parent[: children.shape[0]] = children.sum(dim=1)

    def find(self, mass: torch.Tensor) -> torch.Tensor:
        """The slot whose prefix-sum interval holds each `mass` [B] in [0, total)."""
        node = torch.zeros_like(mass, dtype=torch.int64)
        for children in self.levels[1:]:
            groups = children.view(-1, self.fanout).index_select(0, node)  # [B, k]
            # Running sums with a leading 0: cum[:, c] is the mass left of child c.
            cum = torch.nn.functional.pad(groups, (1, 0)).cumsum(dim=1)
            passed = (cum[:, 1:] <= mass.unsqueeze(1)).sum(dim=1)
            # Never step past the last non-empty child (rounding can put mass at the end).
            last = (cum[:, 1:] < cum[:, -1:]).sum(dim=1)
            choice = torch.minimum(passed, last)
            mass = mass - cum.gather(1, choice.unsqueeze(1)).squeeze(1)
            node = node * self.fanout + choice
        return node


class Transitions(NamedTuple):
    obs: CompactObs
    actions: torch.Tensor
    returns: torch.Tensor  # float32 [B]: discounted n-step reward sum
    discounts: torch.Tensor  # float32 [B]: gamma^m, or 0 where the episode terminated
    next_obs: CompactObs


_FIELDS = ("day", "portfolio", "actions", "returns", "discounts", "next_day", "next_portfolio")


class ReplayBuffer:
    """A ring of compact transitions with uniform sampling (importance weights all 1)."""

    prioritized = False

    def __init__(
        self,
        capacity: int,
        portfolio_dim: int,
        action_shape: tuple[int, ...],
        action_dtype: torch.dtype,
        device: torch.device | str,
    ) -> None:
        c, f32 = int(capacity), torch.float32
        self.capacity, self.device = c, torch.device(device)
        self.day = torch.zeros(c, dtype=torch.int64, device=device)
        self.portfolio = torch.zeros((c, portfolio_dim), dtype=f32, device=device)
        self.actions = torch.zeros((c, *action_shape), dtype=action_dtype, device=device)
        self.returns = torch.zeros(c, dtype=f32, device=device)
        self.discounts = torch.zeros(c, dtype=f32, device=device)
        self.next_day = torch.zeros(c, dtype=torch.int64, device=device)
        self.next_portfolio = torch.zeros((c, portfolio_dim), dtype=f32, device=device)
        self.pos = 0
        self.size = 0

    def __len__(self) -> int:
        return self.size

    def add(self, batch: Transitions) -> torch.Tensor:
        """Store K transitions (the oldest are overwritten once full); their slots [K]."""
        k = batch.returns.shape[0]
        slots = (self.pos + torch.arange(k, device=self.device)) % self.capacity
        values = (
            batch.obs.day, batch.obs.portfolio, batch.actions, batch.returns, batch.discounts,
            batch.next_obs.day, batch.next_obs.portfolio,
        )  # fmt: skip
        for name, value in zip(_FIELDS, values, strict=True):
            store = getattr(self, name)
            store.index_copy_(0, slots, value.to(store.dtype))
        self.pos = (self.pos + k) % self.capacity
        self.size = min(self.size + k, self.capacity)
        return slots

    def get(self, slots: torch.Tensor) -> Transitions:
        # index_select: a plain row gather, about twice as fast on CPU as advanced indexing.
        rows = {name: getattr(self, name).index_select(0, slots) for name in _FIELDS}
        return Transitions(
            CompactObs(rows["day"], rows["portfolio"]),
            rows["actions"],
            rows["returns"],
            rows["discounts"],
            CompactObs(rows["next_day"], rows["next_portfolio"]),
        )

    def sample(
        self, batch_size: int, beta: float = 1.0
    ) -> tuple[Transitions, torch.Tensor, torch.Tensor]:
        """(transitions, slots [B], importance weights [B]) drawn with replacement."""
        slots = torch.randint(0, self.size, (batch_size,), device=self.device)
        return self.get(slots), slots, torch.ones(batch_size, device=self.device)

    def update_priorities(self, slots: torch.Tensor, td_errors: torch.Tensor) -> None:
        """Uniform replay keeps no priorities."""

    def state_dict(self) -> dict[str, torch.Tensor | int]:
        """The filled slots only, as tensors and ints (loads with weights_only=True)."""
        state: dict[str, torch.Tensor | int] = {
            name: getattr(self, name)[: self.size].clone() for name in _FIELDS
        }
        state.update(pos=self.pos, size=self.size)
        return state

    def load_state_dict(self, state: dict[str, torch.Tensor | int]) -> None:
        self.pos, self.size = int(state["pos"]), int(state["size"])
        for name in _FIELDS:
            getattr(self, name)[: self.size] = state[name].to(self.device)


class PrioritizedReplay(ReplayBuffer):
    """Proportional prioritized replay on a SumTree (see the module docstring)."""

    prioritized = True

    def __init__(
        self,
        capacity: int,
        portfolio_dim: int,
        action_shape: tuple[int, ...],
        action_dtype: torch.dtype,
        device: torch.device | str,
        alpha: float = 0.6,
        eps: float = 1e-6,
    ) -> None:
        super().__init__(capacity, portfolio_dim, action_shape, action_dtype, device)
        self.alpha, self.eps = float(alpha), float(eps)
        self.tree = SumTree(capacity, device)
        # Largest priority p^alpha seen so far; a tensor, so that updating it never syncs.
        self.max_priority = torch.ones((), dtype=torch.float64, device=device)

    def add(self, batch: Transitions) -> torch.Tensor:
        slots = super().add(batch)
        self.tree.update(slots, self.max_priority.expand(slots.shape[0]))
        return slots

    def sample(
        self, batch_size: int, beta: float = 1.0
    ) -> tuple[Transitions, torch.Tensor, torch.Tensor]:
        total = self.tree.total
        mass = torch.rand(batch_size, dtype=torch.float64, device=self.device) * total
        slots = self.tree.find(mass).clamp_(max=self.size - 1)
        probs = self.tree.leaves(slots) / total
        weights = (self.size * probs).pow(-beta)
        weights = (weights / weights.max()).to(torch.float32)
        return self.get(slots), slots, weights

    def update_priorities(self, slots: torch.Tensor, td_errors: torch.Tensor) -> None:
        priorities = (td_errors.detach().abs().to(torch.float64) + self.eps).pow(self.alpha)
        self.tree.update(slots, priorities)
        self.max_priority = torch.maximum(self.max_priority, priorities.max())

    def state_dict(self) -> dict[str, torch.Tensor | int]:
        state = super().state_dict()
        state["priorities"] = self.tree.leaves(torch.arange(self.size, device=self.device))
        state["max_priority"] = self.max_priority.clone()
        return state

    def load_state_dict(self, state: dict[str, torch.Tensor | int]) -> None:
        super().load_state_dict(state)
        self.tree.rebuild(state["priorities"].to(self.device))
        self.max_priority = state["max_priority"].to(self.device)


class NStepWindow:
    """The last n env steps of every env; once full, each push yields the n-step transition
    of the oldest step.

    The return sums rewards up to the first episode end inside the window; the transition
    then bootstraps from that step's final observation with discount gamma^m (m steps
    summed), or not at all (discount 0) when the episode terminated there. A truncated
    window bootstraps, as in the on-policy GAE.
    """

    def __init__(self, n: int, gamma: float) -> None:
        self.n, self.gamma = int(n), float(gamma)
        self.steps: list[dict[str, torch.Tensor]] = []

    def push(
        self,
        obs: CompactObs,
        actions: torch.Tensor,
        rewards: torch.Tensor,
        terminated: torch.Tensor,
        truncated: torch.Tensor,
        final_obs: CompactObs,
    ) -> Transitions | None:
        if self.n == 1:
            # The one-step transition straight away (the window's general sums reduce to it):
            # the reward, and gamma unless the episode terminated there.
            keep = 1.0 - terminated.to(torch.float32)
            return Transitions(
                obs, actions, rewards.to(torch.float32), self.gamma * keep, final_obs
            )
        self.steps.append(
            {
                "day": obs.day,
                "portfolio": obs.portfolio,
                "actions": actions,
                "rewards": rewards.to(torch.float32),
                "terminated": terminated,
                "done": terminated | truncated,
                "next_day": final_obs.day,
                "next_portfolio": final_obs.portfolio,
            }
        )
        if len(self.steps) < self.n:
            return None
        out = self._oldest()
        self.steps.pop(0)
        return out

    def _oldest(self) -> Transitions:
        s = {key: torch.stack([step[key] for step in self.steps]) for key in self.steps[0]}
        n, dev = self.n, s["rewards"].device
        done = s["done"].to(torch.float32)  # [n, N]
        # alive[k]: no episode end before step k of the window.
        alive = torch.cumprod(torch.cat((torch.ones_like(done[:1]), 1.0 - done[:-1])), dim=0)
        powers = self.gamma ** torch.arange(n, dtype=torch.float32, device=dev).unsqueeze(1)
        returns = (powers * alive * s["rewards"]).sum(dim=0)
        last = torch.zeros_like(done)
        last[-1] = 1.0
        ends = alive * torch.maximum(done, last)  # one 1 per env: the last step summed
        m = ends.argmax(dim=0)  # [N]
        keep = 1.0 - s["terminated"].to(torch.float32).gather(0, m.unsqueeze(0)).squeeze(0)
        discounts = self.gamma ** (m + 1).to(torch.float32) * keep
        cols = torch.arange(m.shape[0], device=dev)
        return Transitions(
            CompactObs(s["day"][0], s["portfolio"][0]),
            s["actions"][0],
            returns,
            discounts,
            CompactObs(s["next_day"][m, cols], s["next_portfolio"][m, cols]),
        )

    def state_dict(self) -> dict[str, torch.Tensor]:
        if not self.steps:
            return {}
        return {key: torch.stack([step[key] for step in self.steps]) for key in self.steps[0]}

    def load_state_dict(self, state: dict[str, torch.Tensor], device: torch.device) -> None:
        count = next(iter(state.values())).shape[0] if state else 0
        self.steps = [{k: v[i].to(device) for k, v in state.items()} for i in range(count)]
