"""Text generation as a sequence of batched steps: each step of each request is one batcher item."""

import random
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass

import torch

from service.batching import MicroBatcher
from service.predictors.language_model import LanguageModelPredictor, LMItem, LMOutput


@dataclass(frozen=True)
class GenerationSettings:
    prompt: str
    max_new_tokens: int
    temperature: float
    top_k: int
    seed: int


def draw_seed() -> int:
    return random.SystemRandom().randrange(2**63)


def render(tokens: list[str], eos_token: str) -> str:
    """Words joined by spaces; each <eos> ends a line."""
    text = " ".join("\n" if token == eos_token else token for token in tokens)
    return "\n".join(line.strip() for line in text.split("\n"))


async def generate_tokens(
    predictor: LanguageModelPredictor,
    batcher: MicroBatcher,
    settings: GenerationSettings,
    deadline: float,
    step_timeout_s: float,
    disconnected: Callable[[], Awaitable[bool]],
) -> AsyncIterator[str]:
    """Yield new tokens one by one. Each request samples with its own seeded generator, so what a
    seed produces never depends on which other requests shared a batch. Stops if the client leaves."""
    generator = torch.Generator().manual_seed(settings.seed)
    context = predictor.context(settings.prompt, "prompt", allow_empty=True)
    item = LMItem([predictor.eos_id, *context.token_ids], keep_state=True)
    for _ in range(settings.max_new_tokens):
        (output,) = await batcher.submit([item], deadline)
        assert isinstance(output, LMOutput) and output.log_probs is not None
        next_id = predictor.sample(output.log_probs, settings.temperature, settings.top_k, generator)
        yield predictor.words[next_id]
        if await disconnected():
            return
        # Later steps get a fresh deadline: the request's deadline bounds its wait for the first step.
        deadline = time.monotonic() + step_timeout_s
        item = LMItem([next_id], state=output.state)
