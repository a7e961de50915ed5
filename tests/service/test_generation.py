"""Generation as batched steps: deterministic per seed, independent of batch mates, stops on disconnect."""

import asyncio
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import torch

from models.artifact import load_artifact
from service.batching import MicroBatcher
from service.generation import GenerationSettings, generate_tokens, render
from service.metrics import Metrics
from service.predictors.language_model import LanguageModelPredictor


def run_generations(artifacts_dir: Path, settings: list[GenerationSettings], leave_after: int | None = None) -> list[list[str]]:
    predictor = LanguageModelPredictor(load_artifact(artifacts_dir / "lm-ptb"), torch.device("cpu"))

    async def main() -> list[list[str]]:
        with ThreadPoolExecutor(max_workers=1) as executor:
            batcher = MicroBatcher("lm", "cpu", predictor.forward, executor, Metrics(), 32, 0.002, 1000)
            batcher.start()

            async def one(setting: GenerationSettings) -> list[str]:
                produced: list[str] = []

                async def disconnected() -> bool:
                    return leave_after is not None and len(produced) >= leave_after

                async for token in generate_tokens(predictor, batcher, setting, time.monotonic() + 30, 30, disconnected):
                    produced.append(token)
                return produced

            try:
                return list(await asyncio.gather(*(one(s) for s in settings)))
            finally:
                await batcher.stop()

    return asyncio.run(main())


def test_concurrent_generations_give_what_each_seed_gives_alone(artifacts_dir: Path) -> None:
    settings = [GenerationSettings("the company said", 15, 1.0, 0, seed) for seed in range(6)]
    together = run_generations(artifacts_dir, settings)
    alone = [run_generations(artifacts_dir, [setting])[0] for setting in settings]
    assert together == alone
    assert all(len(tokens) == 15 for tokens in together)


def test_generation_stops_when_the_client_leaves(artifacts_dir: Path) -> None:
    (tokens,) = run_generations(artifacts_dir, [GenerationSettings("the", 50, 1.0, 0, 1)], leave_after=3)
    assert len(tokens) == 3


def test_render_shows_eos_as_a_line_break() -> None:
    assert render(["the", "end", "<eos>", "a", "new", "line"], "<eos>") == "the end\na new line"
