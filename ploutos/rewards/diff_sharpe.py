"""Moody & Saffell's differential Sharpe ratio (1998, 2001) with exponential estimates.

With R_t the step's log return and eta = 1 - decay:
    A_t = A_{t-1} + eta (R_t - A_{t-1}),   B_t = B_{t-1} + eta (R_t^2 - B_{t-1})
    D_t = (B_{t-1} dA_t - A_{t-1} dB_t / 2) / (B_{t-1} - A_{t-1}^2)^{3/2}
where dA_t = R_t - A_{t-1} and dB_t = R_t^2 - B_{t-1}. D_t is the first-order effect of R_t
on the running Sharpe A / sqrt(B - A^2).

Warm start: A_0 = 0 and B_0 = init_std^2, a prior on the step's volatility, so the first
steps divide by a sensible variance instead of zero. The variance is also floored at
min_var so a flat stretch (all-cash) cannot blow the ratio up. D_t is clipped to [-clip, clip].
"""

from __future__ import annotations

import torch

from ploutos.rewards.base import Reward, StepOutcome, log_growth


class DiffSharpeReward(Reward):
    def __init__(
        self,
        n_envs: int,
        device: torch.device,
        scale: float,
        decay: float,
        init_std: float,
        min_var: float,
        clip: float,
    ) -> None:
        super().__init__(n_envs, device, scale)
        self.eta = 1.0 - decay
        self.init_var = init_std**2
        self.min_var = min_var
        self.clip = clip
        self.A = torch.zeros(n_envs, dtype=torch.float64, device=device)
        self.B = torch.full((n_envs,), self.init_var, dtype=torch.float64, device=device)

    def update(self, returns: torch.Tensor) -> torch.Tensor:
        """Advance A, B with float64 returns [N]; return the clipped, unscaled D_t [N]."""
        dA = returns - self.A
        dB = returns * returns - self.B
        var = torch.clamp(self.B - self.A * self.A, min=self.min_var)
        d = (self.B * dA - 0.5 * self.A * dB) / var.pow(1.5)
        self.A.add_(self.eta * dA)
        self.B.add_(self.eta * dB)
        return d.clamp_(-self.clip, self.clip)

    def running_sharpe(self) -> torch.Tensor:
        """float64 [N] per-step Sharpe ratio of the exponential estimates."""
        return self.A / torch.clamp(self.B - self.A * self.A, min=self.min_var).sqrt()

    def __call__(self, step: StepOutcome) -> torch.Tensor:
        return (self.scale * self.update(log_growth(step))).to(torch.float32)

    def reset(self, mask: torch.Tensor) -> None:
        self.A.masked_fill_(mask, 0.0)
        self.B.masked_fill_(mask, self.init_var)

    def state_dict(self) -> dict[str, torch.Tensor]:
        return {"A": self.A.clone(), "B": self.B.clone()}
