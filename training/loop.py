"""The one training skeleton the three trainers share:
join -> seed -> set up -> resume -> (epoch -> validate -> early stop -> checkpoint)* -> best weights -> card
-> write.

A task brings a `Trainer`: its data, network and optimizer (`setup`), one training epoch,
one validation pass, and the card of the finished model. Everything about epochs,
checkpoints, resuming, early stopping and running under torchrun (training/distributed.py)
lives here once.
"""

import argparse
import dataclasses
import json
import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Generic, Self, TypeVar

import torch
from tokenizers import Tokenizer
from torch import nn

from models import architectures
from models.artifact import FORMAT_VERSION, ModelCard, Task, write_artifact
from models.card_io import CardIO
from models.golden import GOLDEN_FILE, GoldenFile, golden_bytes
from training import distributed
from training.checkpoint import resume, save_epoch
from training.distributed import World
from training.early_stopping import EarlyStopping
from training.plots import loss_curves_png
from training.provenance import git_commit, now_iso, seed_everything, weights_version


@dataclass(frozen=True)
class RunDefaults:
    """A task's defaults for the flags every run shares."""

    name: str | None  # None: the trainer derives it (forecast-<preset>)
    epochs: int
    patience: int
    seed: int


def _flag(help: str, convert: Callable[[str], Any] = str) -> Any:
    """A RunConfig field that is also a command-line flag: its help and how its text is converted."""
    return field(metadata={"help": help, "convert": convert})


@dataclass(frozen=True, kw_only=True)
class RunConfig:
    """What every run has; each trainer's config adds its own fields (all recorded in the card).
    The fields are the flags every task's command line shares (`add_arguments`)."""

    out: Path = _flag("artifact folder to write (replaced atomically)", Path)
    name: str = _flag("model name recorded in the card")
    epochs: int = _flag("most epochs to run", int)
    patience: int = _flag("epochs without validation improvement before stopping", int)
    seed: int = _flag("random seed (initialization, data order, sampling)", int)
    device: str = _flag("auto, cpu, cuda or cuda:N")
    checkpoint_dir: Path | None = _flag("resume from / save to this folder each epoch", Path)

    @staticmethod
    def add_arguments(parser: argparse.ArgumentParser, defaults: RunDefaults) -> None:
        """Declare the shared flags, with the task's defaults (--out is required; --device defaults to
        auto)."""
        values: dict[str, Any] = {**dataclasses.asdict(defaults), "device": "auto", "checkpoint_dir": None}
        for item in dataclasses.fields(RunConfig):
            flag = "--" + item.name.replace("_", "-")
            help, convert = item.metadata["help"], item.metadata["convert"]
            if item.name == "out":
                parser.add_argument(flag, type=convert, required=True, help=help)
            else:
                parser.add_argument(flag, type=convert, default=values[item.name], help=help)

    @classmethod
    def from_arguments(cls, arguments: argparse.Namespace) -> Self:
        """Take this config's fields from parsed command-line arguments."""
        return cls(**{item.name: getattr(arguments, item.name) for item in dataclasses.fields(cls)})

    def record(self) -> dict[str, Any]:
        """Every field, JSON-ready, for the card's `training.arguments`."""
        return {
            key: str(value) if isinstance(value, Path) else value
            for key, value in dataclasses.asdict(self).items()
        }


@dataclass
class Fit:
    """What the epoch loop leaves for the card."""

    history: dict[str, list[float]]
    best_epoch: int
    best_loss: float
    seconds: float

    def at_best(self, key: str) -> float:
        """A per-epoch record's value at the best epoch."""
        return self.history[key][self.best_epoch - 1]


@dataclass
class Finished:
    """A trained model ready to be written: its card, tokenizer (text tasks), pictures and golden file."""

    card: ModelCard
    tokenizer: Tokenizer | None = None
    pictures: dict[str, bytes] = field(default_factory=dict)
    golden: GoldenFile | None = None  # requests from the test split and their answers (models/golden.py)

    def files(self) -> dict[str, bytes]:
        """Everything written beside the card, weights and tokenizer."""
        golden = {GOLDEN_FILE: golden_bytes(self.golden)} if self.golden and self.golden.cases else {}
        return {**self.pictures, **golden}


NetworkT = TypeVar("NetworkT", bound=nn.Module)


@dataclass(frozen=True)
class EpochStats:
    loss: float  # this rank's mean training loss
    samples: int  # training samples (reviews, windows, tokens) this rank saw


class Trainer(ABC, Generic[NetworkT]):
    """One task's part of a run. `setup` must set `model` and `optimizer`; training steps run
    through `train_model` (the model, or its DDP wrapper under torchrun)."""

    model: NetworkT
    optimizer: torch.optim.Optimizer
    train_model: nn.Module
    world: World
    device: torch.device

    def __init__(self, config: RunConfig) -> None:
        self.config = config

    @abstractmethod
    def setup(self) -> None:
        """Read the data and build the network and optimizer (after seeding, before resuming)."""

    def start(self, first_epoch: int) -> None:
        """Called once before the first epoch this process runs (a resumed run starts later)."""
        return None

    @abstractmethod
    def train_epoch(self, epoch: int) -> EpochStats:
        """One epoch of training on this rank's share of each global batch."""

    @abstractmethod
    def validate(self) -> tuple[float, dict[str, float]]:
        """The validation loss that early stopping watches (the same on every rank), and other per-epoch
        records."""

    def after_validation(self, improved: bool, stopper: EarlyStopping) -> None:
        """React to an epoch's validation (the language model decays its rate when it stalls)."""
        return None

    @abstractmethod
    def finish(self, fit: Fit) -> Finished:
        """Test the best weights (already loaded, in eval mode, on the training device) and describe them in a
        card."""

    def card(
        self, fit: Fit, task: Task, io: CardIO, license: str, metrics: dict[str, float], data: dict[str, Any]
    ) -> ModelCard:
        """The card of the trained model: the task's parts given, the rest (version, arch, training record)
        alike for all."""
        return ModelCard(
            format=FORMAT_VERSION,
            name=self.config.name,
            version=weights_version(self.model),
            task=task,
            arch=architectures.describe(self.model),
            io=io,
            license=license,
            metrics=metrics,
            data=data,
            training=training_record(self.config, fit, self.world),
            created=now_iso(),
        )

    def loss_curves(self, fit: Fit, loss: str) -> dict[str, bytes]:
        """curves.png: train and validation loss per epoch."""
        curves = loss_curves_png(
            fit.history["train_loss"], fit.history["validation_loss"], f"{self.config.name}: {loss}"
        )
        return {"curves.png": curves}


def train(trainer: Trainer[Any]) -> ModelCard | None:
    """The whole run: join the ranks, seed, set up, fit with early stopping and checkpoints, and write
    the artifact. Returns the card on rank 0 (the only rank that tests and writes), None on the others."""
    config = trainer.config
    trainer.world, trainer.device = distributed.join(config.device)
    try:
        seed_everything(config.seed)  # the same on every rank: every rank draws the same global batches
        trainer.setup()
        trainer.train_model = distributed.wrap(trainer.model, trainer.world, trainer.device)
        fit = fit_epochs(trainer)
        card = None
        if trainer.world.is_main:
            trainer.model.eval()
            finished = trainer.finish(fit)
            write_artifact(config.out, finished.card, trainer.model, finished.tokenizer, finished.files())
            print(f"wrote {config.out}: " + json.dumps(finished.card.metrics))
            card = finished.card
        # Every rank leaves together: a rank that tore down its process group while rank 0 was still testing
        # sometimes died with SIGABRT in gloo's threads (1 run in 6 here), failing the whole torchrun.
        distributed.barrier(trainer.world)
        return card
    finally:
        distributed.leave(trainer.world)


def fit_epochs(trainer: Trainer[Any]) -> Fit:
    """Epochs until `epochs` or early stopping, resuming from and saving to the checkpoint folder."""
    config, model, optimizer, world = trainer.config, trainer.model, trainer.optimizer, trainer.world
    started = time.time()
    stopper = EarlyStopping(config.patience)
    restored = resume(config.checkpoint_dir, model, optimizer, stopper)
    history, first_epoch, seconds_before = restored or ({"train_loss": [], "validation_loss": []}, 1, 0.0)
    trainer.start(first_epoch)
    for epoch in range(first_epoch, config.epochs + 1):
        if stopper.should_stop:
            break
        epoch_started = time.time()
        stats = trainer.train_epoch(epoch)
        loss_sum, samples = distributed.sum_across(
            [stats.loss * stats.samples, stats.samples], world, trainer.device
        )
        train_seconds = time.time() - epoch_started
        validation_loss, records = trainer.validate()
        improved = stopper.update(epoch, validation_loss, model)
        records = {
            **records,
            "samples_per_second": samples / train_seconds,
        }  # every rank's samples: the run's throughput
        for key, value in {
            "train_loss": loss_sum / samples,
            "validation_loss": validation_loss,
            **records,
        }.items():
            history.setdefault(key, []).append(value)
        if world.is_main:
            extras = "".join(f" | {key} {value:.4g}" for key, value in records.items())
            print(
                f"epoch {epoch}: train {loss_sum / samples:.4f} | validation {validation_loss:.4f}{extras} | "
                f"best epoch {stopper.best_epoch} | {time.time() - started:.0f}s"
            )
        trainer.after_validation(improved, stopper)
        if config.checkpoint_dir is not None and world.is_main:
            save_epoch(
                config.checkpoint_dir,
                epoch,
                model,
                optimizer,
                stopper,
                history,
                seconds_before + time.time() - started,
            )
    if not stopper.best_state:
        raise SystemExit(
            f"no epoch ran: the checkpoint in {config.checkpoint_dir} has already reached --epochs "
            f"{config.epochs}"
        )
    model.load_state_dict(stopper.best_state)
    return Fit(history, stopper.best_epoch, stopper.best_loss, seconds_before + time.time() - started)


def training_record(config: RunConfig, fit: Fit, world: World) -> dict[str, Any]:
    """The card's `training` block: every argument, seed, epochs, time, devices, world size and versions."""
    return {
        "arguments": config.record(),
        "seed": config.seed,
        "epochs_run": len(fit.history["train_loss"]),
        "best_epoch": fit.best_epoch,
        "seconds": round(fit.seconds, 1),
        "device": world.devices[0],  # rank 0's
        "world_size": world.size,
        "backend": world.backend,  # gloo or nccl under torchrun; null when one process trained alone
        "devices": world.devices,
        "torch_version": torch.__version__,
        "git_commit": git_commit(),
        "history": fit.history,
    }
