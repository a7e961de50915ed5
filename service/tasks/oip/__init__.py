"""The Open Inference Protocol's tensors for each task (tensors.py, language_model.py)."""

from service.runtime.registry import ModelRegistry
from service.tasks.language_model.generation import TextGenerator
from service.tasks.language_model.session_flow import SessionFlow
from service.tasks.oip.language_model import LanguageModelTensors
from service.tasks.oip.tensors import ForecastTensors, SentimentTensors, TaskTensors


def task_tensors(
    registry: ModelRegistry, generator: TextGenerator, sessions: SessionFlow
) -> dict[str, TaskTensors]:
    """Each task's tensors, running on the registry's models."""
    return {
        "sentiment": SentimentTensors(registry),
        "language-model": LanguageModelTensors(registry, generator, sessions),
        "forecast": ForecastTensors(registry),
    }
