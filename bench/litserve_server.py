"""LitServe with its batching on the same models, for bench/load.py (only where litserve installs).

python -m bench.litserve_server --task sentiment --port 8102 --max-batch-size 32
"""

import argparse
from pathlib import Path
from typing import Any

import litserve as ls
import torch

from models.artifact import load_artifact
from service.schemas.sentiment import SentimentRequest
from service.tasks.language_model.runner import LanguageModelRunner
from service.tasks.sentiment import SentimentOutput, SentimentPredictor, SentimentRunner

ARTIFACTS = Path(__file__).resolve().parent.parent / "artifacts"


class SentimentAPI(ls.LitAPI):
    def setup(self, device: str) -> None:
        self.runner = SentimentRunner(load_artifact(ARTIFACTS / "sentiment"), torch.device("cpu"))
        self.predictor = SentimentPredictor(self.runner)

    def decode_request(self, request: dict[str, Any]) -> Any:
        (prepared,) = self.predictor.preprocess(SentimentRequest(texts=request["texts"][:1])).items
        return prepared

    def batch(self, inputs: list[Any]) -> list[Any]:
        return inputs

    def predict(self, items: list[Any]) -> list[SentimentOutput]:
        return self.runner.forward(items)

    def unbatch(self, output: list[Any]) -> list[Any]:
        return output

    def encode_response(self, output: SentimentOutput) -> dict[str, Any]:
        return {"results": [self.predictor.result(output.encoded, output.probabilities or []).model_dump()]}


class NextWordAPI(ls.LitAPI):
    def setup(self, device: str) -> None:
        self.predictor = LanguageModelRunner(load_artifact(ARTIFACTS / "lm-ptb"), torch.device("cpu"))

    def decode_request(self, request: dict[str, Any]) -> Any:
        return self.predictor.next_word_item(self.predictor.context(request["text"], "text"))

    def batch(self, inputs: list[Any]) -> list[Any]:
        return inputs

    def predict(self, items: list[Any]) -> list[Any]:
        return self.predictor.forward(items)

    def unbatch(self, output: list[Any]) -> list[Any]:
        return output

    def encode_response(self, output: Any) -> dict[str, Any]:
        return {
            "predictions": [{"word": self.predictor.words[i], "probability": p} for i, p in output.top[:5]]
        }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--task", choices=["sentiment", "next-word"], required=True, help="which model to serve"
    )
    parser.add_argument("--port", type=int, required=True, help="loopback port to listen on")
    parser.add_argument("--max-batch-size", type=int, default=32, help="LitServe's batch size")
    parser.add_argument("--batch-timeout", type=float, default=0.002, help="LitServe's batch wait, seconds")
    args = parser.parse_args()
    api_class = SentimentAPI if args.task == "sentiment" else NextWordAPI
    path = "/v1/sentiment" if args.task == "sentiment" else "/v1/next-word"
    api = api_class(max_batch_size=args.max_batch_size, batch_timeout=args.batch_timeout, api_path=path)
    server = ls.LitServer(api, accelerator="cpu", workers_per_device=1)
    server.run(host="127.0.0.1", port=args.port, log_level="warning", generate_client_file=False)
