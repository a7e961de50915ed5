"""The naive baseline for bench/load.py: FastAPI doing one forward pass per request, no batching.

python -m bench.naive_server --port 8101
"""

import argparse
from pathlib import Path
from typing import Any

import torch
import uvicorn
from fastapi import FastAPI

from models.artifact import load_artifact
from service.schemas.sentiment import SentimentRequest
from service.tasks.language_model.runner import LanguageModelRunner
from service.tasks.sentiment import SentimentPredictor, SentimentRunner

ARTIFACTS = Path(__file__).resolve().parent.parent / "artifacts"


def build_app() -> FastAPI:
    sentiment = SentimentRunner(load_artifact(ARTIFACTS / "sentiment"), torch.device("cpu"))
    classifier = SentimentPredictor(sentiment)
    language = LanguageModelRunner(load_artifact(ARTIFACTS / "lm-ptb"), torch.device("cpu"))
    app = FastAPI()

    @app.post("/v1/sentiment")
    def classify(body: dict[str, Any]) -> dict[str, Any]:
        request = SentimentRequest(texts=body["texts"])
        prepared = classifier.preprocess(request)
        return classifier.postprocess(request, prepared, sentiment.forward(prepared.items)).model_dump()

    @app.post("/v1/next-word")
    def next_word(body: dict[str, Any]) -> dict[str, Any]:
        (output,) = language.forward([language.next_word_item(language.context(body["text"], "text"))])
        assert output.top is not None  # a next-word item always comes back with its ranking
        return {
            "predictions": [
                {"word": language.words[i], "probability": p} for i, p in output.top[: body.get("top_k", 5)]
            ]
        }

    @app.get("/healthz")
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    return app


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True, help="loopback port to listen on")
    uvicorn.run(build_app(), host="127.0.0.1", port=parser.parse_args().port, log_level="warning")
