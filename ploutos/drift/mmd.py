"""Maximum mean discrepancy on a day's whole standardized feature vector, in torch.

A day is one point: its [A, F] features flattened and standardized with the reference days'
mean and standard deviation per coordinate. Kernel k(x, y) = exp(-|x - y|^2 / h) with h the
median squared distance between reference days (the median heuristic). Statistic: the biased
MMD^2 = w' K w between the reference days (weight -1/n each) and the current window (+1/m).

Permutation test. Days are autocorrelated, so whole blocks of `block_days` consecutive days
are permuted between the two samples (the pooled n + m days hold (n + m) / L blocks, of which
m / L are drawn as "current"); the p-value is (1 + #{permuted MMD^2 >= observed}) / (1 + P).
The same P block draws serve every day, so w is constant on each block and every quadratic
form reduces to block sums of the kernel: reference x reference (fixed), reference x day
(rolling sums of one [n, T] kernel), and within the current window (sums along the kernel's
diagonals up to lag m - 1). That makes a daily permutation test over years cost about one
kernel evaluation per (reference day, day) pair.
"""

from __future__ import annotations

import numpy as np
import torch

from ploutos.drift.base import WindowDetector, WindowScores

DTYPE = torch.float64
# Days per block of the banded kernel: the chunked products of [chunk, D] x [D, chunk + m].
CHUNK = 256


def _squared_norms(z: torch.Tensor) -> torch.Tensor:
    return (z * z).sum(dim=1)


def _gaussian(sq_dist: torch.Tensor, bandwidth: float) -> torch.Tensor:
    return torch.exp(-sq_dist.clamp_min(0.0) / bandwidth)


def kernel_band(z: torch.Tensor, lags: int, bandwidth: float) -> torch.Tensor:
    """[lags, T]: entry [l, u] = k(z_u, z_{u+l}), 0 where u + l is past the end."""
    n_days = z.shape[0]
    norms = _squared_norms(z)
    band = torch.zeros(lags, n_days, dtype=DTYPE)
    for start in range(0, n_days, CHUNK):
        rows = z[start : start + CHUNK]
        stop = min(n_days, start + CHUNK + lags - 1)
        gram = rows @ z[start:stop].T  # [r, c]
        r = rows.shape[0]
        i = torch.arange(r)[None, :].expand(lags, r)
        j = i + torch.arange(lags)[:, None]
        valid = j < stop - start
        jj = j.clamp(max=stop - start - 1)
        sq = norms[start : start + r][None, :] + norms[start:stop][jj] - 2.0 * gram[i, jj]
        band[:, start : start + r] = torch.where(valid, _gaussian(sq, bandwidth), 0.0)
    return band


def window_block_sums(band: torch.Tensor, window: int, block: int) -> torch.Tensor:
    """[S, nb, nb] with S = T - window + 1: sums of k over block pairs of each window, where the
    window starting at s has blocks s + b * block + [0, block)."""
    lags, n_days = band.shape
    n_starts, nb = n_days - window + 1, window // block
    # prefix[l, u] = sum of band[l, :u]
    prefix = torch.zeros(lags, n_days + 1, dtype=DTYPE)
    prefix[:, 1:] = torch.cumsum(band, dim=1)
    starts = torch.arange(n_starts)
    sums = torch.zeros(n_starts, nb, nb, dtype=DTYPE)

    def run(lag: int, first: torch.Tensor, count: int) -> torch.Tensor:
        return prefix[lag, first + count] - prefix[lag, first]

    for a in range(nb):
        for b in range(a, nb):
            offset = (b - a) * block
            total = torch.zeros(n_starts, dtype=DTYPE)
            # Pairs (i in block a, j in block b) at lag offset + e, i from max(0, -e).
            for e in range(-(block - 1), block):
                if a == b and e < 0:
                    continue  # the mirror image of lag -e, which counts twice below
                factor = 2.0 if a == b and e > 0 else 1.0
                total += factor * run(offset + e, starts + a * block + max(0, -e),
                                      block - abs(e))
            sums[:, a, b] = total
            sums[:, b, a] = total
    return sums


def block_permutations(n_ref_blocks: int, n_cur_blocks: int, permutations: int,
                       seed: int) -> np.ndarray:
    """[P + 1, n_ref_blocks + n_cur_blocks] bool: which pooled blocks play "current"; row 0 is
    the observed split (the last n_cur_blocks)."""
    rng = np.random.default_rng(seed)
    total = n_ref_blocks + n_cur_blocks
    chosen = np.zeros((permutations + 1, total), bool)
    chosen[0, n_ref_blocks:] = True
    for p in range(1, permutations + 1):
        chosen[p, rng.choice(total, size=n_cur_blocks, replace=False)] = True
    return chosen


class MMDDetector(WindowDetector):
    name = "mmd"

    def __init__(self, window: int, permutations: int, alpha: float, block_days: int,
                 seed: int) -> None:
        super().__init__()
        self.window, self.permutations, self.alpha = window, permutations, alpha
        self.block, self.seed = block_days, seed
        self.nominal = 0.0  # MMD^2 >= 0; until calibrated, the permutation test alone decides

    def fit(self, reference: np.ndarray) -> None:
        ref = torch.as_tensor(np.asarray(reference).reshape(reference.shape[0], -1), dtype=DTYPE)
        self.mean = ref.mean(dim=0)
        std = ref.std(dim=0)
        self.std = torch.where(std > 0, std, torch.ones_like(std))
        self.z_ref = (ref - self.mean) / self.std
        sq = torch.cdist(self.z_ref, self.z_ref).square()
        off = sq[~torch.eye(sq.shape[0], dtype=torch.bool)]
        self.bandwidth = float(off.median()) if float(off.median()) > 0 else 1.0
        n_ref = ref.shape[0]
        nb_ref, nb_cur = n_ref // self.block, self.window // self.block
        chosen = torch.as_tensor(
            block_permutations(nb_ref, nb_cur, self.permutations, self.seed)
        )
        weights = torch.where(chosen, 1.0 / self.window, -1.0 / n_ref).to(DTYPE)
        self.w_ref, self.w_cur = weights[:, :nb_ref], weights[:, nb_ref:]  # [P+1, nb]
        k_rr = _gaussian(sq, self.bandwidth)
        block_rr = k_rr.reshape(nb_ref, self.block, nb_ref, self.block).sum(dim=(1, 3))
        self.rr = torch.einsum("pa,ab,pb->p", self.w_ref, block_rr, self.w_ref)
        self.nb_ref = nb_ref

    def _standardize(self, values: np.ndarray) -> torch.Tensor:
        flat = torch.as_tensor(np.asarray(values).reshape(values.shape[0], -1), dtype=DTYPE)
        return (flat - self.mean) / self.std

    def scores(self, values: np.ndarray) -> WindowScores:
        n_days = values.shape[0]
        statistic = np.full(n_days, np.nan)
        pvalue = np.full(n_days, np.nan)
        if n_days < self.window:
            return WindowScores(statistic, np.zeros(n_days, bool), extra={"mmd_p": pvalue})
        z = self._standardize(values)
        # Reference x day kernel, summed over each reference block: [nb_ref, T].
        sq = (_squared_norms(self.z_ref)[:, None] + _squared_norms(z)[None, :]
              - 2.0 * self.z_ref @ z.T)
        k_rd = _gaussian(sq, self.bandwidth)
        by_block = k_rd.reshape(self.nb_ref, self.block, n_days).sum(dim=1)
        prefix = torch.zeros(self.nb_ref, n_days + 1, dtype=DTYPE)
        prefix[:, 1:] = torch.cumsum(by_block, dim=1)
        n_starts = n_days - self.window + 1
        nb_cur = self.window // self.block
        first = torch.arange(n_starts)[:, None] + self.block * torch.arange(nb_cur)[None, :]
        # cross[s, r, c]: kernel summed over reference block r x current block c of window s.
        cross = (prefix[:, first + self.block] - prefix[:, first]).permute(1, 0, 2)
        within = window_block_sums(kernel_band(z, self.window, self.bandwidth), self.window,
                                   self.block)
        total = (self.rr[None, :]
                 + 2.0 * torch.einsum("pr,src,pc->sp", self.w_ref, cross, self.w_cur)
                 + torch.einsum("pa,sab,pb->sp", self.w_cur, within, self.w_cur))
        observed = total[:, 0]
        exceed = (total[:, 1:] >= observed[:, None]).sum(dim=1)
        statistic[self.window - 1 :] = observed.numpy()
        pvalue[self.window - 1 :] = ((1 + exceed) / (1 + self.permutations)).numpy()
        gate = np.nan_to_num(pvalue, nan=1.0) <= self.alpha
        return WindowScores(statistic=statistic, gate=gate, extra={"mmd_p": pvalue})
