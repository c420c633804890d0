"""Minibatch index sets for one PPO update epoch: sample-shuffled or partitioned by day.

Classic PPO shuffles the samples and cuts them into `num_minibatches` equal slices. A model
whose market encoder is expensive (the v7 transformer) pays for that: every slice holds
almost every distinct day of the batch, so each minibatch re-encodes ~all days with
gradients and an epoch encodes each day `num_minibatches` times. Partitioning the batch's
distinct days at random into `num_minibatches` groups, a minibatch being every sample whose
decision day falls in its group, makes an epoch encode each distinct day exactly once, however
many envs, steps or minibatches the batch holds (docs/design.md #5). Every sample is still
visited once per epoch, each minibatch is still an unbiased draw of days; minibatch sizes
vary with how many samples share each day.
"""

from __future__ import annotations

import torch


def shuffled_minibatches(batch_size: int, n_minibatches: int, device: torch.device):
    """`n_minibatches` near-equal slices of a random permutation of range(batch_size)."""
    perm = torch.randperm(batch_size, device=device)
    return perm.tensor_split(n_minibatches)


def day_minibatches(day: torch.Tensor, n_minibatches: int) -> tuple[torch.Tensor, ...]:
    """Sample indices of `day` [B] grouped so that no day appears in two minibatches.

    The distinct days are shuffled and cut into `n_minibatches` near-equal groups (fewer when
    the batch holds fewer distinct days); samples are shuffled within their group.
    """
    unique, inverse = torch.unique(day, return_inverse=True)
    n_groups = min(n_minibatches, unique.numel())
    # Group of each distinct day: its rank in a random order, cut into n_groups runs.
    rank = torch.empty_like(unique)
    rank[torch.randperm(unique.numel(), device=day.device)] = torch.arange(
        unique.numel(), device=day.device
    )
    group = (rank * n_groups) // unique.numel()
    sample_group = group[inverse]
    perm = torch.randperm(day.numel(), device=day.device)
    order = perm[torch.argsort(sample_group[perm], stable=True)]
    counts = torch.bincount(sample_group, minlength=n_groups)
    return order.split(counts.tolist())
