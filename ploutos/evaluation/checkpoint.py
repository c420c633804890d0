"""Load a training checkpoint into what a backtest needs: policy, config and its market.

A checkpoint written by the training app carries the resolved config (`cfg`) and the market
metadata (`market_meta`: tickers, feature names, the train-only normalizer state and the data
fingerprint). The market is rebuilt from that config with the STORED normalizer state, never
refitted, and the rebuilt bars must hash to the stored fingerprint: a backtest on other data
than the model was trained for would report numbers about nothing.

Only the policy's weights are read from the Lightning state_dict; the training env, optimizer
and RNG states are ignored, so loading is cheap and needs no training machinery.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from omegaconf import DictConfig, OmegaConf

from ploutos.env.actions import make_action_space
from ploutos.env.params import EnvParams
from ploutos.errors import DataError, PloutosError
from ploutos.market import Market
from ploutos.models import ActorCritic, make_policy
from ploutos.obs.builders import ObsBuilder, make_obs_builder
from ploutos.pipeline import MarketReport, build_market

_POLICY_PREFIX = "policy."


class CheckpointError(PloutosError, ValueError):
    """A checkpoint file lacks what a backtest needs, or does not match its data."""


@dataclass
class LoadedModel:
    """A policy with the config and market it was trained for.

    Walk-forward and other in-memory users can build one directly from a trained policy;
    `path`, `report` and `meta` are then optional. The policy reads `market` through
    `obs_builder` (made from cfg.obs on first use); models loaded together share one market.
    """

    policy: ActorCritic
    cfg: DictConfig
    market: Market
    report: MarketReport | None = None
    meta: dict[str, Any] = field(default_factory=dict)
    path: Path | None = None
    env_steps: int | None = None

    @property
    def name(self) -> str:
        """A short label: the checkpoint's run folder and file name, else 'agent'."""
        if self.path is None:
            return "agent"
        run = self.path.parent.parent.name if self.path.parent.name == "checkpoints" else ""
        return f"{run}/{self.path.stem}" if run else self.path.stem

    @functools.cached_property
    def obs_builder(self) -> ObsBuilder:
        return make_obs_builder(self.cfg.obs, self.market)


def read_checkpoint(path: Path, device: str = "cpu") -> dict[str, Any]:
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint not found: {path}")
    # Training checkpoints hold tensors and plain types only (see PPO.on_save_checkpoint),
    # so the safe loader suffices; a pickle that needs more is not one of ours.
    try:
        return torch.load(path, map_location=device, weights_only=True)
    except Exception as err:
        reason = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise CheckpointError(f"{path}: not a readable Ploutos checkpoint ({reason})") from err


def policy_state_dict(checkpoint: dict[str, Any], path: Path | str = "?") -> dict[str, Any]:
    """The policy's parameters from a PPO module's state_dict (keys without 'policy.')."""
    state = checkpoint.get("state_dict")
    if not isinstance(state, dict):
        raise CheckpointError(f"{path}: no 'state_dict' in the checkpoint")
    weights = {
        k[len(_POLICY_PREFIX) :]: v for k, v in state.items() if k.startswith(_POLICY_PREFIX)
    }
    if not weights:
        raise CheckpointError(f"{path}: the state_dict holds no 'policy.*' weights")
    return weights


def check_fingerprint(meta: dict[str, Any], report: MarketReport, path: Path | str) -> None:
    """Refuse a market whose bars, tickers or features differ from the checkpoint's."""
    stored = meta.get("fingerprint")
    data = meta.get("data", {})
    where = f"data source '{data.get('source', '?')}'"
    if list(meta.get("tickers", report.tickers)) != list(report.tickers):
        raise DataError(
            f"{path}: tickers differ from the checkpoint's: trained on {meta['tickers']}, "
            f"{where} now gives {list(report.tickers)}"
        )
    if stored != report.fingerprint:
        dates = report.bars.dates
        raise DataError(
            f"{path}: data fingerprint mismatch for {where} ({dates[0]} .. {dates[-1]}, "
            f"tickers {' '.join(report.tickers)}): checkpoint {str(stored)[:16]}, "
            f"rebuilt {report.fingerprint[:16]}; the bars changed since training "
            "(new downloads, other dates or another seed)"
        )
    names = meta.get("feature_names")
    if names is not None and list(names) != list(report.feature_names):
        raise DataError(
            f"{path}: feature names differ from the checkpoint's "
            f"({len(names)} stored, {len(report.feature_names)} rebuilt)"
        )


def _market_key(cfg: DictConfig, meta: dict[str, Any]) -> str:
    """What a rebuilt market depends on: the data, features and obs configs and the stored
    normalizer; checkpoints with the same key share one Market."""
    parts = {k: OmegaConf.to_container(cfg[k], resolve=True) for k in ("data", "features", "obs")}
    return repr((parts, meta.get("fingerprint"), repr(meta["normalizer_state"])))


def _read_model_parts(path: Path, device: str) -> tuple[dict[str, Any], DictConfig, dict]:
    ckpt = read_checkpoint(path, device)
    for key in ("cfg", "market_meta"):
        if not ckpt.get(key):
            raise CheckpointError(
                f"{path}: no '{key}' in the checkpoint; it was not written by the training app"
            )
    meta = dict(ckpt["market_meta"])
    if "normalizer_state" not in meta:
        raise CheckpointError(f"{path}: market_meta has no normalizer_state")
    return ckpt, OmegaConf.create(ckpt["cfg"]), meta


def load_checkpoints(paths: Sequence[str | Path], device: str = "cpu") -> list[LoadedModel]:
    """Load several checkpoints; those trained on the same data, features and normalizer
    share one rebuilt Market (an ensemble of three seeds builds its market once).

    Every file is read and checked before any market is built, so a bad path fails fast.
    Raises FileNotFoundError naming the path when it does not exist, CheckpointError when
    it is not a training checkpoint, and DataError when the rebuilt data's fingerprint,
    tickers or features differ from the stored ones.
    """
    parts = [(Path(p), *_read_model_parts(Path(p), device)) for p in paths]
    markets: dict[str, tuple[Market, MarketReport]] = {}
    models = []
    for path, ckpt, cfg, meta in parts:
        key = _market_key(cfg, meta)
        if key not in markets:
            market, report = build_market(cfg, normalizer_state=meta["normalizer_state"])
            check_fingerprint(meta, report, path)
            markets[key] = (market.to(device), report)
        market, report = markets[key]
        check_fingerprint(meta, report, path)
        model = LoadedModel(
            policy=policy_from_checkpoint(ckpt, cfg, market, path),
            cfg=cfg,
            market=market,
            report=report,
            meta=meta,
            path=path,
            env_steps=None if ckpt.get("env_steps") is None else int(ckpt["env_steps"]),
        )
        models.append(model)
    return models


def policy_from_checkpoint(
    ckpt: dict[str, Any], cfg: DictConfig, market: Market, path: Path | str
) -> ActorCritic:
    """The policy of a read checkpoint for `cfg` over `market`, in eval mode on its device."""
    builder = make_obs_builder(cfg.obs, market)
    space = make_action_space(EnvParams.from_config(cfg.env).action_mode, market.n_assets)
    policy = make_policy(cfg, builder, space)
    try:
        policy.load_state_dict(policy_state_dict(ckpt, path))
    except RuntimeError as err:
        raise CheckpointError(f"{path}: weights do not fit the stored model config: {err}") from err
    return policy.to(market.device).eval()


def load_checkpoint(path: str | Path, device: str = "cpu") -> LoadedModel:
    """Rebuild the market and the policy a training checkpoint was written from (see
    load_checkpoints for the errors)."""
    return load_checkpoints([path], device)[0]
