"""Walk-forward validation app: `python walkforward.py [-m fold=...] [overrides]`.

See conf/walkforward.yaml for the commands; ploutos/evaluation/walkforward.py for the method.
"""

import hydra
from omegaconf import DictConfig

from ploutos.apps.cli import one_line_errors
from ploutos.config import CONF_DIR, register_configs
from ploutos.evaluation.walkforward import register_configs as register_walkforward_configs

register_configs()
register_walkforward_configs()


@hydra.main(version_base="1.3", config_path=str(CONF_DIR), config_name="walkforward")
@one_line_errors
def main(cfg: DictConfig) -> None:
    from ploutos.apps.train import output_dir
    from ploutos.apps.walkforward import main as run

    run(cfg, output_dir(cfg))


if __name__ == "__main__":
    main()
