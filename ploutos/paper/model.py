"""The checkpoint a paper account trades: its policy over each session's market.

The checkpoint is read once; each session rebuilds the market from that day's bars with the
checkpoint's train-fitted normalizer (never refitted) and puts the policy over it. Features
are causal, so a day's features do not depend on how much history follows it: the market of
a session and the backtest's market agree on every day both hold.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from ploutos.data.bars import Bars
from ploutos.env.params import EnvParams
from ploutos.errors import DataError
from ploutos.evaluation.checkpoint import CheckpointError, policy_from_checkpoint, read_checkpoint
from ploutos.market import Market
from ploutos.models.policy import Policy
from ploutos.obs.builders import ObsBuilder, make_obs_builder
from ploutos.pipeline import build_market


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


@dataclass
class SessionMarket:
    market: Market
    policy: Policy
    obs_builder: ObsBuilder


@dataclass
class PaperModel:
    path: Path
    ckpt: dict[str, Any]
    cfg: DictConfig  # the checkpoint's config, data overrides applied
    meta: dict[str, Any]
    sha256: str
    # Built on the first session: a policy holds weights only and reads whichever market its
    # caller's obs builder renders, so one instance serves every session of the process.
    _policy: Policy | None = None

    @classmethod
    def load(cls, path: str | Path, data_overrides: Mapping[str, Any] | None = None) -> PaperModel:
        """Read the checkpoint; `data_overrides` replace keys of its data config (another
        source or path for the same tickers, e.g. csv files that grow every day)."""
        path = Path(path)
        ckpt = read_checkpoint(path)
        for key in ("cfg", "market_meta"):
            if not ckpt.get(key):
                raise CheckpointError(f"{path}: no '{key}' in the checkpoint")
        meta = dict(ckpt["market_meta"])
        cfg = OmegaConf.create(ckpt["cfg"])
        cfg.data = OmegaConf.merge(
            cfg.data, dict(data_overrides or {}), {"tickers": meta["tickers"]}
        )
        return cls(path, ckpt, cfg, meta, file_sha256(path))

    @property
    def tickers(self) -> list[str]:
        return list(self.meta["tickers"])

    @property
    def params(self) -> EnvParams:
        return EnvParams.from_config(self.cfg.env)

    def session_market(self, bars: Bars) -> SessionMarket:
        market, report = build_market(self.cfg, self.meta["normalizer_state"], bars=bars)
        names = self.meta.get("feature_names")
        if names is not None and list(names) != list(report.feature_names):
            raise DataError(
                f"{self.path}: the session's features differ from the checkpoint's "
                f"({len(names)} stored, {len(report.feature_names)} rebuilt)"
            )
        if self._policy is None:
            self._policy = policy_from_checkpoint(self.ckpt, self.cfg, market, self.path)
        return SessionMarket(market, self._policy, make_obs_builder(self.cfg.obs, market))
