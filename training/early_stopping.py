"""Early stopping on a validation loss, keeping a copy of the best weights."""

import torch
from torch import nn


class EarlyStopping:
    def __init__(self, patience: int) -> None:
        self.patience = patience
        self.best_loss = float("inf")
        self.best_epoch = 0
        self.best_state: dict[str, torch.Tensor] = {}
        self.epochs_without_improvement = 0

    @property
    def should_stop(self) -> bool:
        return self.epochs_without_improvement >= self.patience

    def update(self, epoch: int, validation_loss: float, model: nn.Module) -> bool:
        """Record an epoch's validation loss; returns whether it improved on the best (whose weights are then
        kept)."""
        if validation_loss < self.best_loss:
            self.best_loss = validation_loss
            self.best_epoch = epoch
            self.best_state = {key: value.detach().cpu().clone() for key, value in model.state_dict().items()}
            self.epochs_without_improvement = 0
            return True
        self.epochs_without_improvement += 1
        return False

    def state_dict(self) -> dict[str, float | int]:
        """The counters, for a checkpoint's JSON (the best weights are saved beside, as tensors)."""
        return {
            "best_loss": self.best_loss,
            "best_epoch": self.best_epoch,
            "epochs_without_improvement": self.epochs_without_improvement,
        }

    def load_state_dict(self, state: dict[str, float | int], best_state: dict[str, torch.Tensor]) -> None:
        self.best_loss = float(state["best_loss"])
        self.best_epoch = int(state["best_epoch"])
        self.epochs_without_improvement = int(state["epochs_without_improvement"])
        self.best_state = best_state
