"""Ploutos backtest app: `python backtest.py ckpt=PATH [split=val | start=.. end=..]
[episodes=10 days=90]`; writes metrics, CSVs, plots and report.html to its output folder."""

from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig

from ploutos.apps.cli import one_line_errors
from ploutos.config import CONF_DIR


@hydra.main(version_base="1.3", config_path=str(CONF_DIR), config_name="backtest")
@one_line_errors
def main(cfg: DictConfig) -> None:
    from ploutos.apps.backtest import run

    out = cfg.output_dir or HydraConfig.get().runtime.output_dir
    run(cfg, Path(out))


if __name__ == "__main__":
    main()
