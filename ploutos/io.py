"""Files that are either complete or absent: the one atomic writer of the package.

Checkpoints, summaries, reports, caches and ledgers' exports all go through `atomic_write`:
the bytes go to a temporary file in the target's folder, are flushed and fsynced, the file is
renamed over the target (atomic on POSIX and Windows) and the folder is fsynced, so neither a
kill -9 nor a power cut mid-write leaves a truncated file where a reader expects a whole one.
A failure removes the temporary file and leaves the previous target untouched.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any

TEMP_SUFFIX = ".tmp"


def _fsync_dir(folder: Path) -> None:
    # A rename is durable only once the folder's entry is on disk; Windows cannot open folders.
    if os.name == "nt":
        return
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def atomic_write(path: str | os.PathLike, write: Callable[[IO[bytes]], Any], mode: int = 0o644):
    """Call write(binary file handle) on a temporary file, then swap it in as `path`."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=TEMP_SUFFIX, dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        # mkstemp creates 0600; reports and summaries are meant to be read by others too.
        os.chmod(tmp, mode)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    _fsync_dir(target.parent)
    return target


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    return atomic_write(path, lambda fh: fh.write(data))


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    return atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: str | os.PathLike, obj: Any) -> Path:
    """Indented, key-sorted JSON; values json cannot encode are written with str()."""
    text = json.dumps(obj, indent=2, sort_keys=True, default=str) + "\n"
    return atomic_write_text(path, text)


def stale_temp_files(folder: str | os.PathLike) -> Iterator[Path]:
    """Temporary files a killed writer left under `folder` (recursively)."""
    root = Path(folder)
    if root.is_dir():
        yield from (p for p in root.rglob(f".*{TEMP_SUFFIX}") if p.is_file())


def remove_stale_temp_files(folder: str | os.PathLike) -> list[Path]:
    """Delete what a killed writer left behind; returns the removed paths."""
    removed = list(stale_temp_files(folder))
    for path in removed:
        path.unlink(missing_ok=True)
    return removed
