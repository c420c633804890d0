"""Read what a W&B run recorded locally: the records of its `run-<id>.wandb` file.

An offline (or not yet synced) run keeps everything in that file, which `wandb sync` later
uploads: wandb's protobuf `Record`s (wandb.proto.wandb_internal_pb2) framed in LevelDB's log
format (32 KiB blocks; each chunk a 7-byte header of CRC-32, length and type, FULL or
FIRST/MIDDLE/LAST pieces of one record) behind a 7-byte file header. wandb itself no longer
ships a Python reader for the file (its writer is the Go core), so the framing is read here;
the records are wandb's own classes. Used to resolve `ckpt=wandb:NAME:ALIAS` without the
network, and by the tests to check what a run logged.
"""

from __future__ import annotations

import json
import struct
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ploutos.errors import DataError

HEADER = struct.Struct("<4sHB")  # ident, magic, version
HEADER_IDENT, HEADER_MAGIC = b":W&B", 0xBEE1
CHUNK = struct.Struct("<IHB")  # crc32 (of type byte + data), length, type
BLOCK = 32 * 1024
FULL, FIRST, MIDDLE, LAST = 1, 2, 3, 4


def records(path: Path) -> Iterator[Any]:
    """Every Record of a .wandb file, in the order written; a torn tail (a run killed
    mid-write) ends the iteration, a corrupt chunk before it raises DataError."""
    from wandb.proto import wandb_internal_pb2

    data = Path(path).read_bytes()
    if len(data) < HEADER.size:
        return
    ident, magic, _ = HEADER.unpack_from(data)
    if ident != HEADER_IDENT or magic != HEADER_MAGIC:
        raise DataError(f"{path}: not a W&B run file (header {data[:HEADER.size]!r})")
    pos, pieces = HEADER.size, b""
    while pos + CHUNK.size <= len(data):
        left = BLOCK - pos % BLOCK
        if left < CHUNK.size:  # the writer pads a block's tail too short for a header
            pos += left
            continue
        crc, length, kind = CHUNK.unpack_from(data, pos)
        body = data[pos + CHUNK.size : pos + CHUNK.size + length]
        if kind == 0 and length == 0:  # zero padding up to the block's end
            pos += left
            continue
        if len(body) < length:
            return
        if zlib.crc32(body, zlib.crc32(bytes([kind]))) & 0xFFFFFFFF != crc:
            raise DataError(f"{path}: checksum mismatch at byte {pos}")
        pos += CHUNK.size + length
        pieces = body if kind in (FULL, FIRST) else pieces + body
        if kind in (FULL, LAST):
            record = wandb_internal_pb2.Record()
            record.ParseFromString(pieces)
            yield record
            pieces = b""


def run_files(roots: list[Path]) -> list[Path]:
    """Every run-<id>.wandb under the roots (a run folder's wandb/ sits below), oldest first."""
    found = {p for root in roots if Path(root).is_dir() for p in Path(root).rglob("run-*.wandb")}
    return sorted(found, key=lambda p: (p.stat().st_mtime, str(p)))


def _items(items: Any, into: dict[str, Any] | None = None) -> dict[str, Any]:
    """Record items as a dict; a media value (logged as one key per field, under a
    nested key) becomes a dict: {"eval_val/equity": {"_type": "image-file", ...}}."""
    out = {} if into is None else into
    for item in items:
        value = json.loads(item.value_json)
        if item.key:
            out[item.key] = value
            continue
        node = out
        for part in item.nested_key[:-1]:
            node = node.setdefault(part, {})
        node[item.nested_key[-1]] = value
    return out


@dataclass(frozen=True)
class ArtifactEntry:
    """One file of a logged artifact: its name inside the artifact, the local copy wandb
    staged for upload and wandb's digest (base64 MD5) of it."""

    name: str
    local_path: str
    digest: str


@dataclass(frozen=True)
class LoggedArtifact:
    name: str
    type: str
    aliases: tuple[str, ...]
    metadata: dict[str, Any]
    entries: tuple[ArtifactEntry, ...]
    run_file: Path


@dataclass(frozen=True)
class OfflineRun:
    """The parts of a recorded run the dashboards and their tests read."""

    path: Path
    run_id: str
    group: str
    job_type: str
    config: dict[str, Any]
    history: list[dict[str, Any]]  # one dict per wandb.log call, values parsed from JSON
    summary: dict[str, Any]  # the last value of every summary key
    artifacts: list[LoggedArtifact]

    def history_keys(self) -> set[str]:
        return {key for row in self.history for key in row}


def read_run(path: Path) -> OfflineRun:
    """Parse one .wandb file (see `records`)."""
    run_id, group, job_type = "", "", ""
    config: dict[str, Any] = {}
    history: list[dict[str, Any]] = []
    summary: dict[str, Any] = {}
    artifacts: list[LoggedArtifact] = []
    for record in records(path):
        kind = record.WhichOneof("record_type")
        if kind == "run":
            run_id, group, job_type = record.run.run_id, record.run.run_group, record.run.job_type
            _items(record.run.config.update, config)
        elif kind == "config":
            _items(record.config.update, config)
        elif kind == "history":
            history.append(_items(record.history.item))
        elif kind == "summary":
            _items(record.summary.update, summary)
        elif kind == "artifact":
            a = record.artifact
            artifacts.append(
                LoggedArtifact(
                    name=a.name,
                    type=a.type,
                    aliases=tuple(a.aliases),
                    metadata=json.loads(a.metadata) if a.metadata else {},
                    entries=tuple(
                        ArtifactEntry(e.path, e.local_path, e.digest) for e in a.manifest.contents
                    ),
                    run_file=Path(path),
                )
            )
    return OfflineRun(Path(path), run_id, group, job_type, config, history, summary, artifacts)
