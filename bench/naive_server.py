"""The naive baseline for bench/load.py: FastAPI doing one forward pass per request, no batching.

python bench/naive_server.py --port 8101
"""

import argparse
import sys
from pathlib import Path
from typing import Any

import torch
import uvicorn
from fastapi import FastAPI

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from models.artifact import load_artifact  # noqa: E402
from service.predictors.language_model import LanguageModelPredictor  # noqa: E402
from service.predictors.sentiment import SentimentPredictor  # noqa: E402

ARTIFACTS = Path(__file__).resolve().parent.parent / "artifacts"


def build_app() -> FastAPI:
    sentiment = SentimentPredictor(load_artifact(ARTIFACTS / "sentiment"), torch.device("cpu"))
    language = LanguageModelPredictor(load_artifact(ARTIFACTS / "lm-ptb"), torch.device("cpu"))
    app = FastAPI()

    @app.post("/v1/sentiment")
    def classify(body: dict[str, Any]) -> dict[str, Any]:
        prepared = sentiment.preprocess(body["texts"])
        rows = sentiment.forward(prepared)
        return {"results": [sentiment.postprocess(item, row) for item, row in zip(prepared, rows, strict=True)]}

    @app.post("/v1/next-word")
    def next_word(body: dict[str, Any]) -> dict[str, Any]:
        (output,) = language.forward([language.next_word_item(language.context(body["text"], "text"))])
        top = output.log_probs.exp().topk(body.get("top_k", 5))  # type: ignore[union-attr]
        return {
            "predictions": [
                {"word": language.words[i], "probability": p}
                for p, i in zip(top.values.tolist(), top.indices.tolist(), strict=True)
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
