"""Ploutos training app: `python train.py [group=option ...] [key=value ...]`."""

import hydra
from omegaconf import DictConfig

from ploutos.apps.cli import one_line_errors
from ploutos.config import CONF_DIR, register_configs

register_configs()


@hydra.main(version_base="1.3", config_path=str(CONF_DIR), config_name="train")
@one_line_errors
def main(cfg: DictConfig) -> float | None:
    from ploutos.apps.train import run

    return run(cfg)


if __name__ == "__main__":
    main()
