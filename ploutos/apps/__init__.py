"""The Hydra entry points (train, backtest, compare, walk-forward, importance): the top layer.

Each app reads one config, calls into training and evaluation, and writes its output folder.
Nothing below imports this package (tests/test_layers.py checks the layer order).
"""
