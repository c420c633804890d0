"""Generalized advantage estimation with truncation-aware bootstrapping (pure functions)."""

from __future__ import annotations

import torch


def bootstrap_values(
    values: torch.Tensor,
    last_value: torch.Tensor,
    final_values: torch.Tensor,
    terminated: torch.Tensor,
    truncated: torch.Tensor,
) -> torch.Tensor:
    """V(s_{t+1}) for every step of a rollout [S, N].

    The next step's value where the episode goes on (`last_value` [N] after the last step);
    the value of the finished episode's final observation where it was truncated (the env
    already auto-reset, so values[t + 1] belongs to a new episode); zero where it terminated.
    """
    next_values = torch.cat((values[1:], last_value.unsqueeze(0)), dim=0)
    next_values = torch.where(truncated, final_values, next_values)
    return torch.where(terminated, torch.zeros_like(next_values), next_values)


def compute_gae(
    rewards: torch.Tensor,
    values: torch.Tensor,
    next_values: torch.Tensor,
    dones: torch.Tensor,
    gamma: float,
    gae_lambda: float,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Advantages and returns [S, N]; `dones` (terminated | truncated) cuts the recursion."""
    advantages = torch.empty_like(rewards)
    carry = torch.zeros_like(rewards[0])
    keep = (~dones).to(rewards.dtype) * (gamma * gae_lambda)
    deltas = rewards + gamma * next_values - values
    for t in range(rewards.shape[0] - 1, -1, -1):
        carry = deltas[t] + keep[t] * carry
        advantages[t] = carry
    return advantages, advantages + values
