"""summary.json: the machine-readable record of one run, in its output folder."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any


def write_summary(out_dir: Path, summary: dict[str, Any]) -> Path:
    """Write summary.json atomically (a sweep collector never reads half a file)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    target = out_dir / "summary.json"
    fd, tmp = tempfile.mkstemp(prefix=".summary.", suffix=".tmp", dir=out_dir)
    with os.fdopen(fd, "w") as fh:
        json.dump(summary, fh, indent=2, sort_keys=True, default=str)
        fh.write("\n")
    os.replace(tmp, target)
    return target
