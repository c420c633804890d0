"""Rebuild ploutos/data/sample/ from skfolio's bundled S&P 500 data (BSD-3-Clause).

    pip download --no-deps skfolio==1.12.2 -d /tmp/skf
    python scripts/build_sample_data.py --wheel /tmp/skf/skfolio-1.12.2-py3-none-any.whl

Without --wheel the installed skfolio package is read. The output is one gzip CSV of daily
adjusted closes (Date, 20 tickers, SP500) plus the licence notice. Values are copied
unchanged; gzip is written with mtime 0 so a rebuild from the same wheel is byte-identical.
"""

from __future__ import annotations

import argparse
import gzip
import io
import zipfile
from importlib import metadata, resources
from pathlib import Path

import pandas as pd

DATA_FILES = ("sp500_dataset.csv.gz", "sp500_index.csv.gz")
OUT_DIR = Path(__file__).resolve().parents[1] / "ploutos" / "data" / "sample"
OUT_NAME = "sp500_closes.csv.gz"
LICENSE_NAME = "LICENSE-skfolio.txt"


def read_from_wheel(wheel: Path) -> tuple[dict[str, bytes], str, str]:
    """The two data files, the licence text and the version, straight from a wheel."""
    with zipfile.ZipFile(wheel) as zf:
        names = zf.namelist()
        files = {n: zf.read(f"skfolio/datasets/data/{n}") for n in DATA_FILES}
        license_name = next(n for n in names if n.endswith(".dist-info/licenses/LICENSE"))
        version = license_name.split("/")[0].removesuffix(".dist-info").split("-")[1]
        return files, zf.read(license_name).decode(), version


def read_installed() -> tuple[dict[str, bytes], str, str]:
    """The same from an installed skfolio."""
    data = resources.files("skfolio.datasets") / "data"
    files = {n: (data / n).read_bytes() for n in DATA_FILES}
    dist = metadata.distribution("skfolio")
    license_file = next(f for f in dist.files or () if f.name == "LICENSE")
    return files, license_file.read_text(), dist.version


def build(files: dict[str, bytes], license_text: str, version: str, out_dir: Path) -> Path:
    assets = pd.read_csv(io.BytesIO(files["sp500_dataset.csv.gz"]), compression="gzip",
                         dtype=str)
    index = pd.read_csv(io.BytesIO(files["sp500_index.csv.gz"]), compression="gzip", dtype=str)
    if not assets["Date"].equals(index["Date"]):
        raise SystemExit("skfolio asset and index files have different calendars")
    merged = assets.assign(SP500=index["SP500"])
    out_dir.mkdir(parents=True, exist_ok=True)
    out = out_dir / OUT_NAME
    # Strings in, strings out: the vendored values are exactly skfolio's, no float round trip.
    payload = merged.to_csv(index=False, lineterminator="\n").encode()
    with open(out, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0,
                                               compresslevel=9, filename="") as gz:
        gz.write(payload)
    notice = (
        f"ploutos/data/sample/{OUT_NAME} holds the daily adjusted closes of 20 US large caps\n"
        "and the S&P 500 index, 1990-01-02 to 2022-12-28, merged without change from the\n"
        f"files {' and '.join(DATA_FILES)} in skfolio/datasets/data of skfolio {version}\n"
        "(https://github.com/skfolio/skfolio), rebuilt by scripts/build_sample_data.py.\n"
        "skfolio is distributed under the following licence:\n\n"
    )
    (out_dir / LICENSE_NAME).write_text(notice + license_text.rstrip() + "\n")
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--wheel", type=Path, help="skfolio wheel (else the installed package)")
    parser.add_argument("--out-dir", type=Path, default=OUT_DIR)
    args = parser.parse_args()
    files, license_text, version = (
        read_from_wheel(args.wheel) if args.wheel else read_installed()
    )
    out = build(files, license_text, version, args.out_dir)
    print(f"wrote {out} ({out.stat().st_size / 1024:.0f} KiB) from skfolio {version}")


if __name__ == "__main__":
    main()
