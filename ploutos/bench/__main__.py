"""Dispatch `python -m ploutos.bench NAME [args]` to ploutos.bench.NAME_bench.main(args)."""

import importlib
import sys

BENCHMARKS = ("env", "train", "algos", "features", "drift", "ensemble", "paper", "gpu")
# Modules not named NAME_bench: `gpu` is the one prepared device check, not a benchmark.
MODULES = {"gpu": "gpu_check"}


def main() -> None:
    if len(sys.argv) < 2 or sys.argv[1] not in BENCHMARKS:
        raise SystemExit(f"usage: python -m ploutos.bench {{{'|'.join(BENCHMARKS)}}} [options]")
    name = MODULES.get(sys.argv[1], f"{sys.argv[1]}_bench")
    module = importlib.import_module(f"ploutos.bench.{name}")
    module.main(sys.argv[2:])


if __name__ == "__main__":
    main()
