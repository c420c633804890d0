"""Benchmark scripts (not tests): `python -m ploutos.bench env|train`."""
