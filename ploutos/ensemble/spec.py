"""The `ensemble` config group as a checked value (conf/ensemble/*.yaml)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from omegaconf import DictConfig, ListConfig, OmegaConf

from ploutos.ensemble.rules import RULES
from ploutos.errors import ConfigError

NONE = "none"


@dataclass(frozen=True)
class EnsembleSpec:
    rule: str
    members: Any = None  # list of checkpoint paths, one multirun folder, or None
    top_k: int = 3
    metric: str = "sharpe"
    mode: str = "max"
    val_split: str = "val"
    temperature: float = 1.0
    seeds_per_fold: int = 3

    @classmethod
    def from_config(cls, node: DictConfig | dict | None) -> EnsembleSpec | None:
        """The spec of cfg.ensemble, or None for `ensemble=none` (a single model)."""
        if node is None or node.get("name", NONE) == NONE:
            return None
        members = node.get("members")
        if isinstance(members, ListConfig | DictConfig):
            members = OmegaConf.to_container(members, resolve=True)
        spec = cls(
            rule=str(node.get("name")),
            members=members,
            top_k=node.get("top_k", 3),
            metric=str(node.get("metric", "sharpe")),
            mode=str(node.get("mode", "max")),
            val_split=str(node.get("val_split", "val")),
            temperature=node.get("temperature", 1.0),
            seeds_per_fold=node.get("seeds_per_fold", 3),
        )
        spec.validate()
        return spec

    def validate(self) -> None:
        if self.rule not in RULES:
            raise ConfigError(
                "ensemble.name", f"must be one of {(NONE, *RULES)}, got {self.rule!r}"
            )
        for key in ("top_k", "seeds_per_fold"):
            value = getattr(self, key)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigError(f"ensemble.{key}", f"must be an integer >= 1, got {value!r}")
        if self.mode not in ("max", "min"):
            raise ConfigError("ensemble.mode", f"must be max or min, got {self.mode!r}")
        t = self.temperature
        if isinstance(t, bool) or not isinstance(t, int | float) or not t > 0:
            raise ConfigError("ensemble.temperature", f"must be a number > 0, got {t!r}")
