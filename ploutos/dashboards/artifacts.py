"""Checkpoints as W&B artifacts, and `ckpt=wandb:NAME:ALIAS` back to a checkpoint file.

At the end of training the run logs best.ckpt with the alias `best` and last.ckpt with the
alias `latest` as versions of the artifact `model-<run id>` (type `model`, Lightning's
naming), with the resolved config, the data fingerprint, the env steps and the checkpoint's
own path in the metadata. wandb keeps a copy of each file for upload; `wandb sync` uploads
an offline run's artifacts with it.

A reference `wandb:[ENTITY/PROJECT/]model-<run id>:ALIAS` is resolved without the network
first: the newest locally recorded version with that alias (offline_runs.py reads the runs
under the given folders), as its original file when that still holds the same bytes, else
wandb's staged copy. Only when no local run has it and W&B is online is it downloaded.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from ploutos.dashboards.offline_runs import LoggedArtifact, read_run, run_files
from ploutos.errors import ConfigError

PREFIX = "wandb:"
# The checkpoint key naming the W&B run that wrote it (id, project, entity, group), so a
# backtest of the file can log to the run it evaluates (backtest_report.py).
RUN_KEY = "wandb_run"
MODEL_TYPE = "model"
CHECKPOINT_FILE = "model.ckpt"


def artifact_name(run_id: str) -> str:
    return f"model-{run_id}"


def log_checkpoint_artifacts(
    run: Any, checkpoints: Mapping[str, str | None], metadata: Mapping[str, Any]
) -> list[str]:
    """Log each existing checkpoint (alias -> path, e.g. best -> best.ckpt) as a version of
    model-<run id>; returns the aliases logged. Identical files share one version, which
    then carries both aliases."""
    import wandb

    logged = []
    for alias, path in checkpoints.items():
        if path is None or not Path(path).is_file():
            continue
        artifact = wandb.Artifact(
            artifact_name(run.id),
            type=MODEL_TYPE,
            metadata={**metadata, "alias": alias, "checkpoint": str(Path(path).resolve())},
        )
        artifact.add_file(str(path), name=CHECKPOINT_FILE)
        run.log_artifact(artifact, aliases=[alias])
        logged.append(alias)
    return logged


def is_reference(ckpt: Any) -> bool:
    return isinstance(ckpt, str) and ckpt.startswith(PREFIX)


def parse_reference(ref: str) -> tuple[str, str, str]:
    """'wandb:[ENTITY/PROJECT/]NAME[:ALIAS]' -> (entity/project prefix or '', name, alias);
    the alias defaults to latest, as in W&B."""
    body = ref[len(PREFIX) :]
    path, _, alias = body.rpartition(":") if ":" in body else (body, "", "latest")
    scope, _, name = path.rpartition("/")
    if not name or not alias:
        raise ConfigError(
            "ckpt", f"'{ref}' is not an artifact reference; use wandb:model-<run id>:best"
        )
    return scope, name, alias


def _md5_base64(path: Path) -> str:
    digest = hashlib.md5()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return base64.b64encode(digest.digest()).decode()


def local_versions(name: str, roots: Sequence[Path]) -> list[LoggedArtifact]:
    """Every recorded version of artifact `name` under the roots, oldest first."""
    return [a for p in run_files(list(roots)) for a in read_run(p).artifacts if a.name == name]


def _local_file(artifact: LoggedArtifact) -> Path | None:
    entry = next((e for e in artifact.entries if e.name == CHECKPOINT_FILE), None)
    if entry is None:
        return None
    original = Path(str(artifact.metadata.get("checkpoint", "")))
    # The run's own file, unless a later (resumed) run has overwritten it since.
    if original.is_file() and _md5_base64(original) == entry.digest:
        return original
    staged = Path(entry.local_path)
    return staged if entry.local_path and staged.is_file() else None


def _download(ref: str) -> Path:
    import wandb

    scope, name, alias = parse_reference(ref)
    full = f"{scope}/{name}:{alias}" if scope else f"{name}:{alias}"
    folder = Path(wandb.Api().artifact(full, type=MODEL_TYPE).download())
    return folder / CHECKPOINT_FILE


def resolve_reference(ref: str, roots: Sequence[Path], online: bool) -> Path:
    """The checkpoint file an artifact reference names (see the module docstring)."""
    _, name, alias = parse_reference(ref)
    for artifact in reversed(local_versions(name, roots)):
        if alias in artifact.aliases:
            path = _local_file(artifact)
            if path is not None:
                return path
    if online:
        return _download(ref)
    searched = ", ".join(str(r) for r in roots)
    raise ConfigError(
        "ckpt",
        f"no local copy of W&B artifact {name}:{alias} in the runs under {searched} "
        "(W&B is offline; set artifact_dirs, or log in to download it)",
    )
