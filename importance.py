"""Permutation feature importance app: `python importance.py ckpt=PATH [split=test] ...`.

See conf/importance.yaml for the keys; ploutos/evaluation/importance.py for the method.
"""

from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig

from ploutos.apps.cli import one_line_errors
from ploutos.config import CONF_DIR


@hydra.main(version_base="1.3", config_path=str(CONF_DIR), config_name="importance")
@one_line_errors
def main(cfg: DictConfig) -> None:
    from ploutos.apps.importance import run

    out = Path(cfg.output_dir) if cfg.output_dir else Path(HydraConfig.get().runtime.output_dir)
    run(cfg, out)


if __name__ == "__main__":
    main()
