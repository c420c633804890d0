"""Dispatch `python -m ploutos.bench NAME [args]` to ploutos.bench.NAME.main(args)."""

import importlib
import sys

BENCHMARKS = ("env", "train", "features", "drift", "ensemble")


def main() -> None:
    if len(sys.argv) < 2 or sys.argv[1] not in BENCHMARKS:
        raise SystemExit(f"usage: python -m ploutos.bench {{{'|'.join(BENCHMARKS)}}} [options]")
    module = importlib.import_module(f"ploutos.bench.{sys.argv[1]}_bench")
    module.main(sys.argv[2:])


if __name__ == "__main__":
    main()
