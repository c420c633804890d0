"""Ploutos drift app: `python drift.py ckpt=PATH [split=test | start=.. end=..]`; writes
drift.json, drift.csv and drift.png (the window's drift against the training period)."""

from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig

from ploutos.apps.cli import one_line_errors
from ploutos.config import CONF_DIR


@hydra.main(version_base="1.3", config_path=str(CONF_DIR), config_name="drift_app")
@one_line_errors
def main(cfg: DictConfig) -> None:
    from ploutos.apps.drift import run

    out = cfg.output_dir or HydraConfig.get().runtime.output_dir
    run(cfg, Path(out))


if __name__ == "__main__":
    main()
