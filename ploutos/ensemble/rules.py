"""The combination rules of an ensemble, as pure functions of the members' outputs.

- vote: per asset, the action most members chose (a plurality); a tie between the most chosen
  actions goes to HOLD. Counts are sums over members, so the result never depends on the
  members' order (a vote that breaks ties by list order would let the list decide).
- mixture (mean_probs, weighted): the weighted mean of the members' per-asset probabilities
  [M, N, A, 3] or target weights [M, N, A + 1], summed in float64 so that identical members
  give back exactly their own float32 numbers.
- weights: uniform for vote and mean_probs; best_val puts weight one on the member with the
  best validation score; weighted takes softmax(score / temperature) over the members, which
  is positive and sums to one (a member twice as good by Sharpe is not twice as trusted: the
  temperature sets how sharply the weights follow the scores).
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

import numpy as np
import torch
from scipy.special import softmax

from ploutos.env.types import HOLD, N_DISCRETE_ACTIONS

RULES = ("vote", "mean_probs", "best_val", "weighted")
# Rules whose member weights come from a validation score.
SCORED_RULES = ("best_val", "weighted")
# Target weights below this are floored before the log that turns them into env logits.
_MIN_WEIGHT = 1e-12


def plurality(counts: torch.Tensor) -> torch.Tensor:
    """[..., 3] counts per action -> the action counted most; HOLD where the most counted tie."""
    top, most = counts.max(dim=-1)
    tied = (counts == top.unsqueeze(-1)).sum(dim=-1) > 1
    return most.masked_fill(tied, HOLD)


@functools.cache
def _vote_lookup(n_members: int, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """(place, table): sum_m place[action_m] codes the counts of M members' actions in base
    M + 1, and table[code] is plurality of those counts, for every possible code."""
    base = n_members + 1
    place = base ** torch.arange(N_DISCRETE_ACTIONS)
    counts = (torch.arange(base**N_DISCRETE_ACTIONS).unsqueeze(-1) // place) % base
    return place.to(device), plurality(counts).to(device)


def vote(actions: torch.Tensor) -> torch.Tensor:
    """Per-asset plurality of discrete actions [M, N, A] -> [N, A]; ties go to HOLD.

    The counts are looked up, not counted per step: the table holds plurality() of every count
    vector of M members, so a step is a gather, a sum over members and a gather."""
    place, table = _vote_lookup(actions.shape[0], actions.device)
    return table[place[actions].sum(dim=0)]


def vote_shares(actions: torch.Tensor) -> torch.Tensor:
    """Share of members choosing each action [M, N, A] -> [N, A, 3] (float32)."""
    return torch.nn.functional.one_hot(actions, N_DISCRETE_ACTIONS).to(torch.float32).mean(0)


def mixture(outputs: torch.Tensor, weights: Sequence[float] | torch.Tensor) -> torch.Tensor:
    """sum_m weights[m] * outputs[m] over the member axis, computed in float64 (a float64
    weights tensor on the outputs' device is used as it is, without a copy per call)."""
    w = torch.as_tensor(weights, dtype=torch.float64, device=outputs.device)
    mixed = torch.tensordot(w, outputs.to(torch.float64), dims=1)
    return mixed.to(outputs.dtype)


def weights_to_logits(target: torch.Tensor) -> torch.Tensor:
    """Env logits [N, A + 1] whose softmax is `target` renormalized to sum to one."""
    target = target / target.sum(dim=-1, keepdim=True)
    return torch.log(target.clamp_min(_MIN_WEIGHT)).to(torch.float32)


def best_index(scores: Sequence[float], names: Sequence[str], mode: str = "max") -> int:
    """Index of the best score; equal scores go to the smallest name, not to list order."""
    sign = 1.0 if mode == "max" else -1.0
    return min(range(len(scores)), key=lambda i: (-sign * scores[i], names[i]))


def member_weights(
    rule: str,
    scores: Sequence[float] | None,
    names: Sequence[str],
    mode: str = "max",
    temperature: float = 1.0,
) -> list[float]:
    """The weight of each member under `rule` (see the module docstring)."""
    n = len(names)
    if rule not in SCORED_RULES:
        return [1.0 / n] * n
    if scores is None or len(scores) != n:
        raise ValueError(f"rule '{rule}' needs one validation score per member")
    if rule == "best_val":
        best = best_index(scores, names, mode)
        return [float(i == best) for i in range(n)]
    sign = 1.0 if mode == "max" else -1.0
    return [float(w) for w in softmax(sign * np.asarray(scores, dtype=np.float64) / temperature)]
