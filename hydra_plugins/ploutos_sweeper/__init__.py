"""Hydra discovers Sweeper plugins in the `hydra_plugins` namespace package; this one is
ploutos.sweeper (`hydra/sweeper=ploutos_optuna`, and the presets built on it)."""
