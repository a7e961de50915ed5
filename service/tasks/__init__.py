"""The tasks rnnserve serves: each task's runner and operations (sentiment, language_model, forecast), the
language model's generation and sessions, and the Open Inference Protocol's tensors (oip)."""

from service.runtime.contract import CheckedOperation, ServedTask
from service.schemas.forecast import ForecastRequest
from service.schemas.language_model import NextWordRequest, PerplexityRequest
from service.schemas.sentiment import SentimentRequest
from service.tasks.forecast import ForecastPredictor, ForecastRunner
from service.tasks.language_model.operations import (
    GenerationPredictor,
    NextWordPredictor,
    PerplexityPredictor,
    SessionStepPredictor,
)
from service.tasks.language_model.runner import LanguageModelRunner
from service.tasks.sentiment import SentimentPredictor, SentimentRunner

# What the registry loads for each card's `task`, the operations it then serves over one batcher, and the
# operations a new version is checked through (golden.json's `operation`; the first runs the example request).
SERVED_TASKS: dict[str, ServedTask] = {
    "sentiment": ServedTask(
        SentimentRunner,
        (SentimentPredictor,),
        {"sentiment": CheckedOperation(SentimentPredictor, SentimentRequest)},
    ),
    "language-model": ServedTask(
        LanguageModelRunner,
        (NextWordPredictor, PerplexityPredictor, GenerationPredictor, SessionStepPredictor),
        {
            "next-word": CheckedOperation(NextWordPredictor, NextWordRequest),
            "perplexity": CheckedOperation(PerplexityPredictor, PerplexityRequest),
        },
    ),
    "forecast": ServedTask(
        ForecastRunner,
        (ForecastPredictor,),
        {"forecast": CheckedOperation(ForecastPredictor, ForecastRequest)},
    ),
}
