"""Which network classes an artifact may name in `arch.type`, and how to build one from the card."""

import dataclasses
from typing import Any

from torch import nn

from models.forecaster import Forecaster, ForecasterConfig
from models.language_model import LanguageModel, LanguageModelConfig
from models.sentiment import SentimentClassifier, SentimentConfig

# arch.type -> (module class, its config dataclass).
ARCHITECTURES: dict[str, tuple[type[nn.Module], type[Any]]] = {
    "SentimentClassifier": (SentimentClassifier, SentimentConfig),
    "LanguageModel": (LanguageModel, LanguageModelConfig),
    "Forecaster": (Forecaster, ForecasterConfig),
}


def describe(model: nn.Module) -> dict[str, Any]:
    """The card's `arch` block: the class name plus every constructor argument."""
    config = getattr(model, "config", None)  # every registered network keeps its config dataclass
    if not dataclasses.is_dataclass(config) or isinstance(config, type):
        raise TypeError(f"{type(model).__name__} keeps no config dataclass to describe")
    return {"type": type(model).__name__, **dataclasses.asdict(config)}


def build(arch: dict[str, Any]) -> nn.Module:
    """Build the class named by arch['type'] with the rest of `arch` as its config.

    Raises KeyError for an unknown type and TypeError/ValueError for bad arguments.
    """
    arch_type = arch.get("type")
    if arch_type not in ARCHITECTURES:
        raise KeyError(f"unknown arch.type {arch_type!r}; known: {sorted(ARCHITECTURES)}")
    module_class, config_class = ARCHITECTURES[arch_type]
    arguments = {key: value for key, value in arch.items() if key != "type"}
    return module_class(config_class(**arguments))
