"""Artifact format version 1: write and strictly load a model folder.

<name>/card.json            what the model is (see ModelCard)
<name>/weights.safetensors  the state_dict; no pickle anywhere
<name>/tokenizer.json       text tasks: a Hugging Face `tokenizers` file
<name>/golden.json           optional: requests and the answers expected (models/golden.py)
<name>/curves.png, forecast.png   pictures for people; not needed to serve
"""

import json
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import torch
from pydantic import BaseModel, ConfigDict, ValidationError, ValidationInfo, field_validator
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file, save_file
from tokenizers import Tokenizer
from torch import nn

from models import architectures
from models.card_io import IO_BY_TASK, CardIO

FORMAT_VERSION = 1
CARD_FILE = "card.json"
WEIGHTS_FILE = "weights.safetensors"
TOKENIZER_FILE = "tokenizer.json"
TEXT_TASKS = frozenset({"sentiment", "language-model"})

Task = Literal["sentiment", "language-model", "forecast"]


class ArtifactError(Exception):
    """An artifact folder that cannot be loaded; the message names the model and the problem."""

    def __init__(self, model_name: str, problem: str) -> None:
        super().__init__(f"artifact {model_name!r}: {problem}")
        self.model_name = model_name
        self.problem = problem


class ModelCard(BaseModel):
    """card.json. `io` holds what the task's predictor needs (labels, max_length, ...), typed by `task`."""

    model_config = ConfigDict(extra="forbid")

    format: Literal[1]
    name: str
    version: str
    task: Task
    arch: dict[str, Any]
    io: CardIO
    license: str
    metrics: dict[str, float]
    data: dict[str, Any]
    training: dict[str, Any]
    created: str

    @field_validator("io", mode="before")
    @classmethod
    def _io_of_the_task(cls, value: object, info: ValidationInfo) -> object:
        """Validate `io` as the class of the card's task (a plain union would take whichever class fits
        first)."""
        io_class = IO_BY_TASK.get(info.data.get("task", ""))
        if io_class is None or isinstance(value, io_class):
            return value  # an unknown task is reported on its own field
        try:
            return io_class.model_validate(value)
        except ValidationError as error:
            raise ValueError(_problems(error, prefix="io")) from None


@dataclass
class Artifact:
    """A loaded artifact: the card, the network in eval mode on the CPU, and its tokenizer if any."""

    card: ModelCard
    model: nn.Module
    tokenizer: Tokenizer | None
    path: Path


def replace_folder(directory: Path, staging: Path) -> None:
    """Put `staging` where `directory` is: the old folder aside (to a hidden name, which servers pass over),
    the new one in, then the old one deleted. A server watching the folder meets either version whole,
    never a half-deleted one; `staging` must be on the same file system, so that each move is a rename."""
    if not directory.exists():
        staging.rename(directory)
        return
    aside = Path(tempfile.mkdtemp(prefix=f".{directory.name}-old-", dir=directory.parent))
    aside.rmdir()  # mkdtemp only reserved a free hidden name for the old folder
    directory.rename(aside)
    try:
        staging.rename(directory)
    except OSError:
        aside.rename(directory)  # the old artifact back where it was
        raise
    shutil.rmtree(aside)


def write_artifact(
    directory: Path,
    card: ModelCard,
    model: nn.Module,
    tokenizer: Tokenizer | None = None,
    files: dict[str, bytes] | None = None,
) -> None:
    """Write the artifact into a hidden sibling folder first, then move it into place.

    A crash half way leaves any previous artifact in `directory` untouched. A previous artifact is moved
    aside (to a hidden folder, which servers pass over) before the new one is renamed in, and deleted only
    after: a server watching the folder never meets it half-deleted, only missing for the instant between
    two renames.
    """
    directory = Path(directory)
    directory.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{directory.name}-", dir=directory.parent))
    try:
        (staging / CARD_FILE).write_text(json.dumps(card.model_dump(), indent=2) + "\n")
        # safetensors refuses shared or non-contiguous storage: save plain CPU copies.
        state = {key: value.detach().cpu().contiguous().clone() for key, value in model.state_dict().items()}
        save_file(state, str(staging / WEIGHTS_FILE), metadata={"name": card.name, "version": card.version})
        if tokenizer is not None:
            tokenizer.save(str(staging / TOKENIZER_FILE))
        for file_name, content in (files or {}).items():  # pictures, golden.json
            (staging / file_name).write_bytes(content)
        # mkdtemp makes a private folder; an artifact is meant to be read by the serving user.
        staging.chmod(0o755)
        for path in staging.iterdir():
            path.chmod(0o644)
        replace_folder(directory, staging)
    finally:
        if staging.exists():
            shutil.rmtree(staging)


def card_version(folder: Path) -> str | None:
    """The `version` a folder's card.json names, read without validating the card (a server's scan reads
    every card every interval; loading validates it); None where there is none."""
    try:
        card = json.loads((folder / CARD_FILE).read_bytes())
    except (OSError, ValueError):
        return None
    version = card.get("version") if isinstance(card, dict) else None
    return version if isinstance(version, str) else None


def read_card(directory: Path) -> ModelCard:
    """Read and validate card.json alone (cheap: no weights are touched)."""
    directory = Path(directory)
    name = directory.name
    card_path = directory / CARD_FILE
    if not card_path.is_file():
        raise ArtifactError(name, f"missing required file {CARD_FILE}")
    try:
        raw = json.loads(card_path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ArtifactError(name, f"{CARD_FILE} is not valid JSON: {error}") from error
    if not isinstance(raw, dict):
        raise ArtifactError(name, f"{CARD_FILE} must hold a JSON object")
    name = str(raw.get("name", name))
    if raw.get("format") != FORMAT_VERSION:
        raise ArtifactError(
            name, f"unknown format version {raw.get('format')!r}; this rnnserve reads format {FORMAT_VERSION}"
        )
    try:
        return ModelCard.model_validate(raw)
    except ValidationError as error:
        raise ArtifactError(name, f"{CARD_FILE} is invalid: {_problems(error)}") from error


def _problems(error: ValidationError, prefix: str = "") -> str:
    """Each fault as `field.path: message` (`io`'s own validator already names its fields)."""
    problems = []
    for fault in error.errors():
        message = fault["msg"].removeprefix("Value error, ")
        where = ".".join([prefix, *map(str, fault["loc"])] if prefix else map(str, fault["loc"]))
        problems.append(message if message.startswith(f"{where}.") else f"{where}: {message}")
    return "; ".join(problems)


def load_artifact(directory: Path) -> Artifact:
    """Load and check an artifact: build `arch.type` from the card, load weights strictly, eval()."""
    directory = Path(directory)
    card = read_card(directory)
    weights_path = directory / WEIGHTS_FILE
    if not weights_path.is_file():
        raise ArtifactError(card.name, f"missing required file {WEIGHTS_FILE}")
    tokenizer = None
    if card.task in TEXT_TASKS:
        tokenizer_path = directory / TOKENIZER_FILE
        if not tokenizer_path.is_file():
            raise ArtifactError(
                card.name, f"missing required file {TOKENIZER_FILE} (task {card.task!r} needs one)"
            )
        try:
            tokenizer = Tokenizer.from_file(str(tokenizer_path))
        except Exception as error:  # the Rust side raises a bare Exception on bad files
            raise ArtifactError(card.name, f"{TOKENIZER_FILE} cannot be read: {error}") from error

    try:
        model = architectures.build(card.arch)
    except KeyError as error:
        raise ArtifactError(card.name, str(error.args[0])) from error
    except (TypeError, ValueError) as error:
        raise ArtifactError(card.name, f"arch does not fit {card.arch.get('type')}: {error}") from error

    try:
        state = load_file(str(weights_path))
    except (SafetensorError, OSError) as error:
        raise ArtifactError(card.name, f"{WEIGHTS_FILE} cannot be read: {error}") from error
    _check_written_for(card, weights_path)
    _check_weights_match(card.name, model, state)
    model.load_state_dict(state, strict=True)
    model.eval()
    return Artifact(card=card, model=model, tokenizer=tokenizer, path=directory)


def _check_written_for(card: ModelCard, weights_path: Path) -> None:
    """write_artifact records the card's version in the weights' metadata: a card beside weights of another
    version (a folder half replaced by hand, files copied from two runs) is refused."""
    with safe_open(str(weights_path), framework="pt") as weights:
        written_for = (weights.metadata() or {}).get("version")
    if written_for is not None and written_for != card.version:
        raise ArtifactError(
            card.name,
            f"{WEIGHTS_FILE} was written for version {written_for!r}, but card.json is version "
            f"{card.version!r}: the card does not match its weights",
        )


def _check_weights_match(name: str, model: nn.Module, state: dict[str, torch.Tensor]) -> None:
    """Name every missing, unexpected or mis-shaped tensor, rather than torch's generic error."""
    expected = model.state_dict()
    problems = []
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    if missing:
        problems.append(f"missing tensors {missing}")
    if unexpected:
        problems.append(f"unexpected tensors {unexpected}")
    for key in sorted(set(expected) & set(state)):
        if expected[key].shape != state[key].shape:
            problems.append(
                f"{key} has shape {tuple(state[key].shape)}, the card's arch needs "
                f"{tuple(expected[key].shape)}"
            )
    if problems:
        raise ArtifactError(name, "weights do not match the card: " + "; ".join(problems))
