"""Checkpoint files that are either complete or absent (written through ploutos.io)."""

from __future__ import annotations

import os
from typing import Any

import torch
from lightning.pytorch.plugins.io import TorchCheckpointIO

from ploutos.io import atomic_write


def atomic_torch_save(obj: Any, path: str | os.PathLike) -> None:
    """torch.save through the atomic writer: a killed run never leaves half a checkpoint."""
    atomic_write(path, lambda fh: torch.save(obj, fh))


class AtomicCheckpointIO(TorchCheckpointIO):
    """Lightning's torch checkpoint IO with the atomic write above."""

    def save_checkpoint(
        self, checkpoint: dict[str, Any], path: str | os.PathLike, storage_options: Any = None
    ) -> None:
        if storage_options is not None:
            raise TypeError("AtomicCheckpointIO takes no storage_options")
        atomic_torch_save(checkpoint, path)
