"""summary.json: the machine-readable record of one run, in its output folder."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ploutos.io import atomic_write_json


def write_summary(out_dir: Path, summary: dict[str, Any]) -> Path:
    """Write summary.json atomically (a sweep collector never reads half a file)."""
    return atomic_write_json(Path(out_dir) / "summary.json", summary)
