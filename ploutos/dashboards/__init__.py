"""What a researcher reads in W&B and TensorBoard beside the scalars: the evaluation's equity,
actions and timing, the seed's monitoring series, checkpoints as artifacts, backtest and
study reports on their runs (README, "Dashboards").

Above training and evaluation (tests/test_layers.py): it draws the evaluation's episode and
hooks into the training callbacks. Import the modules themselves; this package imports
nothing, so the backtest app's artifact lookup does not load Lightning.
"""
