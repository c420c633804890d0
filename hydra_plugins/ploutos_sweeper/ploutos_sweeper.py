"""Plugin shim: Hydra instantiates plugin classes defined under `hydra_plugins` only, so the
sweeper of ploutos.sweeper.plugin is subclassed here; its config goes to the ConfigStore."""

from ploutos.sweeper import config as _config
from ploutos.sweeper import plugin as _plugin


class PloutosOptunaSweeper(_plugin.OptunaSweeper):
    """Optuna search with pruning (`hydra/sweeper=ploutos_optuna`, `ppo_search`)."""


_config.register_sweeper_config()
