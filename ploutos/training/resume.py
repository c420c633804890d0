"""What a resume may continue: the checkpoint is read safely and compared with the new run
before any data is loaded, and its data fingerprint with the rebuilt market after.

A checkpoint holds tensors and plain types only, so it loads with torch.load(weights_only=True):
a file from elsewhere cannot run code. A resume continues the same experiment: the data,
features, env, obs, reward, model and algorithm must be those of the checkpoint. Only how
long and how the run is watched may change (CONTINUABLE below); anything else is refused
with every differing key named, since training restored envs on days that are now
validation days (or a network on other features) would report numbers about nothing.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from omegaconf import DictConfig, OmegaConf

from ploutos.errors import ConfigError, DataError

# Dotted keys (or their prefixes) a resumed run may change.
CONTINUABLE = (
    "total_timesteps",
    "algo.total_timesteps",
    "eval_freq",
    "checkpoint_freq",
    "early_stopping",
    # Copies of the root keys that checkpoints written before they had one address carry.
    "trainer.eval_freq",
    "trainer.checkpoint_freq",
    "trainer.early_stopping",
    "trainer.accelerator",
    "trainer.progress_bar",
    "trainer.stop_signals",
    "trainer.output_dir",
    "trainer.log_every_n_iterations",
    "trainer.keep_freed_host_memory",
    "trainer.keep_periodic",
    "logger",
    "callbacks",
    "ckpt_path",
    "summary_only",
    "experiment",
)


def read_resume_checkpoint(path: str | Path) -> dict[str, Any]:
    """The checkpoint at `path`, loaded without pickle; one-line errors naming the path."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError("ckpt_path", f"no checkpoint file at '{path}'")
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # a truncated, corrupt or foreign file
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise ConfigError(
            "ckpt_path", f"'{path}' is not a readable Ploutos checkpoint ({first})"
        ) from err
    for key in ("cfg", "market_meta", "env_steps", "state_dict"):
        if key not in ckpt:
            raise ConfigError(
                "ckpt_path", f"'{path}' has no '{key}': it was not written by the training app"
            )
    return ckpt


def _flat(tree: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(tree, dict):
        out: dict[str, Any] = {}
        for key, value in tree.items():
            out.update(_flat(value, f"{prefix}{key}."))
        return out
    return {prefix[:-1]: tree}


def _continuable(key: str) -> bool:
    return any(key == c or key.startswith(f"{c}.") for c in CONTINUABLE)


def config_differences(stored: dict[str, Any], current: DictConfig) -> list[str]:
    """Dotted keys whose values differ (or exist on one side only) and may not change."""
    now = _flat(OmegaConf.to_container(current, resolve=True))
    before = _flat(stored)
    keys = sorted(set(now) | set(before))
    missing = object()
    return [
        k
        for k in keys
        if not _continuable(k) and before.get(k, missing) != now.get(k, missing)
    ]


def check_resumable(ckpt: dict[str, Any], cfg: DictConfig, path: str | Path) -> None:
    """Refuse a resume whose config differs from the checkpoint's beyond CONTINUABLE."""
    diffs = config_differences(ckpt["cfg"], cfg)
    if diffs:
        shown = ", ".join(diffs[:12]) + (f" (+{len(diffs) - 12} more)" if len(diffs) > 12 else "")
        raise ConfigError(
            "ckpt_path",
            f"'{path}' cannot be continued with this config: {shown} differ from the "
            "checkpoint's (only run length, evaluation/checkpoint frequency, early stopping, "
            "loggers and callbacks may change; start a new run instead)",
        )


def check_resume_data(ckpt: dict[str, Any], fingerprint: str, path: str | Path) -> None:
    """Refuse a resume on bars other than the checkpoint's (same config, new downloads)."""
    stored = ckpt["market_meta"].get("fingerprint")
    if stored != fingerprint:
        raise DataError(
            f"{path}: data fingerprint {str(stored)[:16]} of the checkpoint differs from the "
            f"rebuilt market's {fingerprint[:16]}; the bars changed since it was written"
        )


# A run in these states has a result: `ckpt_path=auto` leaves it alone (a diverged run would
# only diverge again from its last good checkpoint).
FINISHED = ("completed", "early_stopped", "diverged")
AUTO = "auto"


def finished_summary(out_dir: Path, total_timesteps: int) -> dict[str, Any] | None:
    """The run folder's summary.json if it records a finished run, else None. A run completed
    at fewer than `total_timesteps` is not finished: asked for more, it goes on."""
    path = Path(out_dir) / "summary.json"
    if not path.is_file():
        return None
    summary = json.loads(path.read_text())
    if summary.get("status") not in FINISHED:
        return None
    if summary["status"] == "completed" and summary["env_steps"] < total_timesteps:
        return None
    return summary


def own_checkpoint(out_dir: Path) -> Path | None:
    """The newest checkpoint of the run folder: last.ckpt (written before each periodic one,
    so never older), else the newest periodic one, else None (nothing to continue)."""
    folder = Path(out_dir) / "checkpoints"
    last = folder / "last.ckpt"
    if last.is_file():
        return last
    periodic = sorted((folder / "periodic").glob("envsteps_*.ckpt"))
    return periodic[-1] if periodic else None
