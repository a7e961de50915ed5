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

    def update(self, epoch: int, validation_loss: float, model: nn.Module) -> bool:
        """Record an epoch's validation loss; returns True when training should stop."""
        if validation_loss < self.best_loss:
            self.best_loss = validation_loss
            self.best_epoch = epoch
            self.best_state = {key: value.detach().cpu().clone() for key, value in model.state_dict().items()}
            self.epochs_without_improvement = 0
        else:
            self.epochs_without_improvement += 1
        return self.epochs_without_improvement >= self.patience
