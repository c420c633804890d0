"""Hyperparameter search on Optuna as a Hydra sweeper (`hydra/sweeper=ppo_search`).

`plugin.py` is the Hydra Sweeper, `study_loop.py` the ask / launch / tell loop behind it,
`search_space.py` turns Hydra's sweep syntax into Optuna distributions, `strategies.py` builds
samplers and pruners, `storage.py` opens the study's SQLite or journal file, `pruning.py` is
the Lightning callback that reports each evaluation to the trial and stops pruned runs, and
`outcome.py` turns a finished job into the value (or the pruned state) Optuna is told.

Nothing here imports optuna at import time of the package: Hydra scans the plugin on every
`python train.py`, and only a sweep should pay for the library.
"""
