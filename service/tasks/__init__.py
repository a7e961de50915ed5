"""The tasks rnnserve serves: each task's runner and operations (sentiment, language_model, forecast), the
language model's generation and sessions, and the Open Inference Protocol's tensors (oip)."""

from service.runtime.contract import ServedTask
from service.tasks.forecast import ForecastPredictor, ForecastRunner
from service.tasks.language_model.operations import (
    GenerationPredictor,
    NextWordPredictor,
    PerplexityPredictor,
    SessionStepPredictor,
)
from service.tasks.language_model.runner import LanguageModelRunner
from service.tasks.sentiment import SentimentPredictor, SentimentRunner

# What the registry loads for each card's `task`, and the operations it then serves over one batcher.
SERVED_TASKS: dict[str, ServedTask] = {
    "sentiment": ServedTask(SentimentRunner, (SentimentPredictor,)),
    "language-model": ServedTask(
        LanguageModelRunner,
        (NextWordPredictor, PerplexityPredictor, GenerationPredictor, SessionStepPredictor),
    ),
    "forecast": ServedTask(ForecastRunner, (ForecastPredictor,)),
}
