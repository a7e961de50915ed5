"""Per-epoch checkpoints in safetensors + JSON (no pickle), so an interrupted run can resume.

A checkpoint folder holds the current weights, the best weights so far, the optimizer's
tensors flattened by parameter index, and a JSON file with everything else (epoch,
history, optimizer hyper-parameters).
"""

import json
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file
from torch import nn

from training.early_stopping import EarlyStopping

STATE_FILE = "state.json"
TENSORS_FILE = "tensors.safetensors"


def save_checkpoint(
    directory: Path,
    model: nn.Module,
    best_state: dict[str, torch.Tensor],
    optimizer: torch.optim.Optimizer,
    meta: dict[str, Any],
) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    tensors: dict[str, torch.Tensor] = {}
    for key, value in model.state_dict().items():
        tensors[f"model.{key}"] = value.detach().cpu().contiguous().clone()
    for key, value in best_state.items():
        tensors[f"best.{key}"] = value.detach().cpu().contiguous().clone()
    optimizer_state = optimizer.state_dict()
    scalars: dict[str, dict[str, Any]] = {}
    for index, parameter_state in optimizer_state["state"].items():
        for key, value in parameter_state.items():
            if isinstance(value, torch.Tensor):
                tensors[f"optimizer.{index}.{key}"] = value.detach().cpu().contiguous().clone()
            else:
                scalars.setdefault(str(index), {})[key] = value
    # Write to temp names then rename, so a kill mid-write keeps the previous checkpoint whole.
    save_file(tensors, str(directory / (TENSORS_FILE + ".tmp")))
    state = {"meta": meta, "param_groups": optimizer_state["param_groups"], "optimizer_scalars": scalars}
    (directory / (STATE_FILE + ".tmp")).write_text(json.dumps(state))
    (directory / (TENSORS_FILE + ".tmp")).replace(directory / TENSORS_FILE)
    (directory / (STATE_FILE + ".tmp")).replace(directory / STATE_FILE)


def load_checkpoint(
    directory: Path, model: nn.Module, optimizer: torch.optim.Optimizer
) -> tuple[dict[str, torch.Tensor], dict[str, Any]] | None:
    """Restore model and optimizer in place; returns (best_state, meta), or None when there is no
    checkpoint."""
    if not (directory / STATE_FILE).is_file() or not (directory / TENSORS_FILE).is_file():
        return None
    state = json.loads((directory / STATE_FILE).read_text())
    tensors = load_file(str(directory / TENSORS_FILE))
    model.load_state_dict({key[6:]: value for key, value in tensors.items() if key.startswith("model.")})
    best_state = {key[5:]: value for key, value in tensors.items() if key.startswith("best.")}
    parameter_states: dict[int, dict[str, Any]] = {}
    for key, value in tensors.items():
        if key.startswith("optimizer."):
            _, index, name = key.split(".", 2)
            parameter_states.setdefault(int(index), {})[name] = value
    for index, scalars in state["optimizer_scalars"].items():
        parameter_states.setdefault(int(index), {}).update(scalars)
    optimizer.load_state_dict({"state": parameter_states, "param_groups": state["param_groups"]})
    return best_state, state["meta"]


def resume(
    directory: Path | None, model: nn.Module, optimizer: torch.optim.Optimizer, stopper: EarlyStopping
) -> tuple[dict[str, list[float]], int, float] | None:
    """Restore a run from `directory` if it holds a checkpoint.

    Returns (history, first epoch to run, seconds the earlier runs trained), or None for a fresh start.
    """
    if directory is None:
        return None
    directory.mkdir(parents=True, exist_ok=True)
    restored = load_checkpoint(directory, model, optimizer)
    if restored is None:
        return None
    best_state, meta = restored
    stopper.load_state_dict(meta, best_state)
    print(f"resumed after epoch {meta['epoch']} from {directory}")
    return meta["history"], meta["epoch"] + 1, float(meta.get("seconds", 0.0))


def save_epoch(
    directory: Path,
    epoch: int,
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    stopper: EarlyStopping,
    history: dict[str, list[float]],
    seconds: float,
) -> None:
    meta = {"epoch": epoch, "seconds": seconds, "history": history, **stopper.state_dict()}
    save_checkpoint(directory, model, stopper.best_state, optimizer, meta)
