"""Ploutos compare app: `python compare.py ckpts=[A,B,...] [split=val | start=.. end=..]
[episodes=10 days=90]`; same windows for every model, paired Sharpe test, report."""

from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig


@hydra.main(version_base="1.3", config_path="conf", config_name="compare")
def main(cfg: DictConfig) -> None:
    from ploutos.evaluation.report import compare_from_config

    out = cfg.output_dir or HydraConfig.get().runtime.output_dir
    compare_from_config(cfg, Path(out))


if __name__ == "__main__":
    main()
