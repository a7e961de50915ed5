"""Generation as batched steps: deterministic per seed, independent of batch mates, stops on disconnect."""

import asyncio
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import torch

from models.artifact import load_artifact
from service.runtime.batching import MicroBatcher
from service.runtime.metrics import Metrics
from service.runtime.model import ReadyModel, RequestContext, StageTimers
from service.schemas.language_model import GenerateRequest
from service.tasks.language_model.generation import first_step, generate_tokens, render
from service.tasks.language_model.operations import GenerationPredictor, SampledToken
from service.tasks.language_model.runner import LanguageModelRunner


def run_generations(
    artifacts_dir: Path, requests: list[GenerateRequest], leave_after: int | None = None
) -> list[list[str]]:
    runner = LanguageModelRunner(load_artifact(artifacts_dir / "lm-ptb"), torch.device("cpu"))

    async def main() -> list[list[str]]:
        with ThreadPoolExecutor(max_workers=1) as executor:
            metrics = Metrics()
            batcher = MicroBatcher("lm", "cpu", runner.forward, executor, metrics, 32, 0.002, 1000)
            model = ReadyModel(
                "lm",
                runner.card,
                GenerationPredictor(runner),
                batcher,
                StageTimers.for_model(metrics, "lm", "cpu"),
            )
            batcher.start()

            async def one(request: GenerateRequest) -> list[str]:
                produced: list[str] = []

                async def disconnected() -> bool:
                    return leave_after is not None and len(produced) >= leave_after

                assert request.seed is not None
                step = first_step(request, request.seed)
                deadline = time.monotonic() + 30
                context = RequestContext(deadline, {})
                async for token in generate_tokens(
                    model, step, request.max_new_tokens, context, disconnected
                ):
                    produced.append(token.word)
                return produced

            try:
                return list(await asyncio.gather(*(one(r) for r in requests)))
            finally:
                await batcher.stop()

    return asyncio.run(main())


def test_concurrent_generations_give_what_each_seed_gives_alone(artifacts_dir: Path) -> None:
    requests = [GenerateRequest(prompt="the company said", max_new_tokens=15, seed=seed) for seed in range(6)]
    together = run_generations(artifacts_dir, requests)
    alone = [run_generations(artifacts_dir, [request])[0] for request in requests]
    assert together == alone
    assert all(len(tokens) == 15 for tokens in together)


def test_generation_stops_when_the_client_leaves(artifacts_dir: Path) -> None:
    (tokens,) = run_generations(
        artifacts_dir, [GenerateRequest(prompt="the", max_new_tokens=50, seed=1)], leave_after=3
    )
    assert len(tokens) == 3


def test_render_shows_eos_as_a_line_break() -> None:
    words = ["the", "end", "<eos>", "a", "new", "line"]
    tokens = [SampledToken(index, word, word == "<eos>", None) for index, word in enumerate(words)]
    assert render(tokens) == "the end\na new line"
