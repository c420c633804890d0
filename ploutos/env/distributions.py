"""Action distributions for the two env action modes, light enough for the rollout hot path.

torch.distributions validates arguments and builds broadcast shapes on every call; these two
classes do only the arithmetic PPO needs (sample, mode, log_prob, entropy), batched over envs.
"""

from __future__ import annotations

import math

import torch

_LOG_SQRT_2PI = 0.5 * math.log(2.0 * math.pi)


class PerAssetCategorical:
    """Independent categorical over {hold, buy, sell} per asset; log-probs sum over assets."""

    def __init__(self, logits: torch.Tensor) -> None:
        self.logits = logits - logits.logsumexp(dim=-1, keepdim=True)  # [N, A, 3]

    def sample(self) -> torch.Tensor:
        # Gumbel-max draws from the global torch RNG, so seeding torch seeds the actions.
        u = torch.rand_like(self.logits).clamp_(min=1e-20)
        return (self.logits - torch.log(-torch.log(u))).argmax(dim=-1)

    def mode(self) -> torch.Tensor:
        return self.logits.argmax(dim=-1)

    def log_prob(self, actions: torch.Tensor) -> torch.Tensor:
        return self.logits.gather(-1, actions.unsqueeze(-1)).squeeze(-1).sum(dim=-1)

    def entropy(self) -> torch.Tensor:
        return -(self.logits.exp() * self.logits).sum(dim=(-2, -1))

    @property
    def probs(self) -> torch.Tensor:
        return self.logits.exp()


class DiagGaussian:
    """Gaussian over the A + 1 target-weight logits with a state-independent log std."""

    def __init__(self, mean: torch.Tensor, log_std: torch.Tensor) -> None:
        self.mean = mean  # [N, D]
        self.log_std = log_std.expand_as(mean)

    def sample(self) -> torch.Tensor:
        return self.mean + self.log_std.exp() * torch.randn_like(self.mean)

    def mode(self) -> torch.Tensor:
        return self.mean

    def log_prob(self, actions: torch.Tensor) -> torch.Tensor:
        z = (actions - self.mean) * torch.exp(-self.log_std)
        return (-0.5 * z.square() - self.log_std - _LOG_SQRT_2PI).sum(dim=-1)

    def entropy(self) -> torch.Tensor:
        return (0.5 + _LOG_SQRT_2PI + self.log_std).sum(dim=-1)


ActionDist = PerAssetCategorical | DiagGaussian
