"""Ploutos paper-trading app: `python paper.py [run|loop|status|replay|clear_kill] ckpt=PATH
broker=sim|alpaca ...` (see ploutos/apps/paper.py)."""

import sys

import hydra
from omegaconf import DictConfig

from ploutos.apps.cli import one_line_errors

# Hydra reads key=value overrides only; the leading command word becomes command=WORD.
if len(sys.argv) > 1 and "=" not in sys.argv[1] and not sys.argv[1].startswith("-"):
    sys.argv[1] = f"command={sys.argv[1]}"


@hydra.main(version_base="1.3", config_path="conf", config_name="paper")
@one_line_errors
def main(cfg: DictConfig) -> None:
    from ploutos.apps.paper import run

    run(cfg)


if __name__ == "__main__":
    main()
