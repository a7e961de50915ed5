"""Each task's tensors in the Open Inference Protocol (KServe v2), mapped onto the /v1 operations.

An infer request is turned into the task's /v1 request, run by the same pipeline (the same predictors,
batchers, deadlines and limits), and its answer is turned into output tensors:

- sentiment: input `text` BYTES [N]; no parameters; outputs `label` BYTES [N], `score` FP32 [N] and
  `probabilities` FP32 [N, labels] (columns in the card's label order).
- language-model: input `text` BYTES [N]; the parameter `operation` picks the /v1 operation:
  - `next_word` (the default; `top_k`): `word` BYTES [N, k] and `probability` FP32 [N, k];
  - `perplexity`: `perplexity` FP32 [N] and `token_count` INT32 [N];
  - `generate` (`max_new_tokens`, `temperature`, `top_k`, `seed`): `generated_text` BYTES [N] and `seed` INT64 [N];
  - with `sequence_id` (and `sequence_start`, `sequence_end`, Triton's names), one text feeds a server-side
    session (service/sessions.py): `word` and `probability` [1, k], the running `perplexity` FP32 [1]
    and `token_count` INT32 [1].
- forecast: input `history` FP32 [T] or [T, F]; parameters `horizon` (required), `quantiles` and `method`;
  outputs `forecast` FP32 [H], when quantiles are asked `quantiles` FP32 [Q, H] (rows in the order asked),
  `method` BYTES [1] (what answered) and `season` INT64 [1].

Tensor data is JSON (nested or flat row-major); the binary-data extension is not supported.
"""

import asyncio
import math
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, ClassVar

from models.artifact import ModelCard
from models.card_io import ForecastIO
from service import generation
from service.api.body import validate_value
from service.errors import InvalidInput
from service.pipeline import Inference
from service.predictors.forecast import ForecastPredictor
from service.predictors.language_model import NextWordPredictor, PerplexityPredictor, SessionStep, SessionStepPredictor
from service.predictors.sentiment import SentimentPredictor
from service.schemas.forecast import ForecastRequest
from service.schemas.language_model import MAX_TOP_K, GenerateRequest, NextWordRequest, PerplexityRequest
from service.schemas.oip import Datatype, InferRequest, RequestInput, ResponseOutput, TensorMetadata
from service.schemas.sentiment import MAX_TEXTS, SentimentRequest
from service.sessions import SessionStore, append_to, feed

SEQUENCE_PARAMETERS = {"sequence_id", "sequence_start", "sequence_end"}  # Triton's names
MAX_LM_TEXTS = 16  # texts in one language-model infer request; each runs as its own /v1 operation
NUMERIC = {"FP16", "FP32", "FP64", "INT8", "INT16", "INT32", "INT64", "UINT8"}
Disconnected = Callable[[], Awaitable[bool]]


def bad_request(message: str) -> InvalidInput:
    return InvalidInput(message)  # a 400 under /v2; the message names the tensor or parameter


def flatten(data: list[Any]) -> list[Any]:
    """Row-major values of nested lists (the protocol allows either form)."""
    return [value for item in data for value in (flatten(item) if isinstance(item, list) else [item])]


def the_input(request: InferRequest, name: str) -> RequestInput:
    """The one input tensor a task takes, its values checked against its shape."""
    names = [tensor.name for tensor in request.inputs]
    if names != [name]:
        raise bad_request(f"this model takes one input tensor, {name!r}; got {names}")
    tensor = request.inputs[0]
    values = flatten(tensor.data)
    if any(size < 0 for size in tensor.shape) or len(values) != math.prod(tensor.shape):
        raise bad_request(
            f"input {name!r} has {len(values)} values, but its shape {tensor.shape} holds {math.prod(tensor.shape)}"
        )
    tensor.data = values
    return tensor


def strings(tensor: RequestInput, most: int) -> list[str]:
    """A BYTES [N] tensor's texts."""
    if tensor.datatype != "BYTES" or len(tensor.shape) != 1:
        raise bad_request(f"input {tensor.name!r} must be BYTES of shape [N]; got {tensor.datatype} {tensor.shape}")
    if not 1 <= len(tensor.data) <= most:
        raise bad_request(f"input {tensor.name!r} takes 1 to {most} texts; got {len(tensor.data)}")
    if not all(isinstance(value, str) for value in tensor.data):
        raise bad_request(f"input {tensor.name!r} must hold strings")
    return list(tensor.data)


def output(name: str, datatype: Datatype, shape: list[int], data: Sequence[Any]) -> ResponseOutput:
    return ResponseOutput(name=name, datatype=datatype, shape=shape, data=list(data))


class TaskTensors(ABC):
    """How one task's requests and answers look as protocol tensors."""

    parameters: ClassVar[dict[str, str]]  # request parameter -> what it means (shown in the model's metadata)

    @abstractmethod
    def inputs(self, card: ModelCard) -> list[TensorMetadata]: ...

    @abstractmethod
    def outputs(self, card: ModelCard) -> list[TensorMetadata]: ...

    @abstractmethod
    async def infer(
        self, inference: Inference, model: str, request: InferRequest, disconnected: Disconnected, sessions: SessionStore
    ) -> list[ResponseOutput]: ...


class SentimentTensors(TaskTensors):
    parameters: ClassVar[dict[str, str]] = {}

    def inputs(self, card: ModelCard) -> list[TensorMetadata]:
        return [TensorMetadata(name="text", datatype="BYTES", shape=[-1])]

    def outputs(self, card: ModelCard) -> list[TensorMetadata]:
        labels = len(getattr(card.io, "labels", ()))
        return [
            TensorMetadata(name="label", datatype="BYTES", shape=[-1]),
            TensorMetadata(name="score", datatype="FP32", shape=[-1]),
            TensorMetadata(name="probabilities", datatype="FP32", shape=[-1, labels]),  # columns in the card's label order
        ]

    async def infer(
        self, inference: Inference, model: str, request: InferRequest, disconnected: Disconnected, sessions: SessionStore
    ) -> list[ResponseOutput]:
        self._no_parameters(request)
        texts = strings(the_input(request, "text"), most=MAX_TEXTS)
        body = validate_value(SentimentRequest, {"model": model, "texts": texts}, "inputs")
        results = (await inference.answer(SentimentPredictor, model, body)).results
        count, labels = len(results), len(results[0].probabilities)
        return [
            output("label", "BYTES", [count], [result.label for result in results]),
            output("score", "FP32", [count], [result.score for result in results]),
            output("probabilities", "FP32", [count, labels], [p for result in results for p in result.probabilities.values()]),
        ]

    @staticmethod
    def _no_parameters(request: InferRequest) -> None:
        if request.parameters:
            raise bad_request(f"sentiment takes no parameters; got {sorted(request.parameters)}")


class LanguageModelTensors(TaskTensors):
    parameters: ClassVar[dict[str, str]] = {
        "operation": "next_word (default), perplexity or generate",
        "top_k": "next_word: how many words (default 5); generate: sample among the k likeliest (0: all)",
        "max_new_tokens": "generate: tokens to generate (default 20, at most 200)",
        "temperature": "generate: 0 is greedy (default 1.0)",
        "seed": "generate: same seed, same text",
        "sequence_id": "a session of the client's naming: one text feeds it on (next words and running perplexity)",
        "sequence_start": "with sequence_id: start (or restart) the sequence with this text",
        "sequence_end": "with sequence_id: end the sequence after this text",
    }
    OPERATION_PARAMETERS: ClassVar[dict[str, set[str]]] = {
        "next_word": {"top_k"},
        "perplexity": set(),
        "generate": {"max_new_tokens", "temperature", "top_k", "seed"},
    }

    def inputs(self, card: ModelCard) -> list[TensorMetadata]:
        return [TensorMetadata(name="text", datatype="BYTES", shape=[-1])]

    def outputs(self, card: ModelCard) -> list[TensorMetadata]:
        return [
            TensorMetadata(name="word", datatype="BYTES", shape=[-1, -1]),
            TensorMetadata(name="probability", datatype="FP32", shape=[-1, -1]),
            TensorMetadata(name="perplexity", datatype="FP32", shape=[-1]),
            TensorMetadata(name="token_count", datatype="INT32", shape=[-1]),
            TensorMetadata(name="generated_text", datatype="BYTES", shape=[-1]),
            TensorMetadata(name="seed", datatype="INT64", shape=[-1]),
        ]

    async def infer(
        self, inference: Inference, model: str, request: InferRequest, disconnected: Disconnected, sessions: SessionStore
    ) -> list[ResponseOutput]:
        parameters = dict(request.parameters or {})
        if SEQUENCE_PARAMETERS & set(parameters):
            return await self._sequence_step(inference, model, request, parameters, sessions)
        operation = parameters.pop("operation", "next_word")
        if operation not in self.OPERATION_PARAMETERS:
            raise bad_request(f"operation must be one of {sorted(self.OPERATION_PARAMETERS)}; got {operation!r}")
        unknown = sorted(set(parameters) - self.OPERATION_PARAMETERS[operation])
        if unknown:
            raise bad_request(f"{operation} takes no parameters {unknown}")
        texts = strings(the_input(request, "text"), most=MAX_LM_TEXTS)
        if operation == "next_word":
            return await self._next_word(inference, model, texts, parameters)
        if operation == "perplexity":
            return await self._perplexity(inference, model, texts)
        return await self._generate(inference, model, texts, parameters, disconnected)

    @staticmethod
    async def _sequence_step(
        inference: Inference, model: str, request: InferRequest, parameters: dict[str, Any], sessions: SessionStore
    ) -> list[ResponseOutput]:
        """Triton's sequence parameters over a server-side session: `sequence_start` starts (or restarts) the
        sequence `sequence_id` with the text, a later request feeds it on, `sequence_end` ends it after."""
        sequence_id, top_k = parameters.pop("sequence_id", None), parameters.pop("top_k", 5)
        starting, ending = parameters.pop("sequence_start", False), parameters.pop("sequence_end", False)
        if not isinstance(sequence_id, str | int) or isinstance(sequence_id, bool) or str(sequence_id) == "":
            raise bad_request("sequence_id must be a non-empty string or an integer")
        if parameters or not isinstance(starting, bool) or not isinstance(ending, bool):
            raise bad_request(
                f"with a sequence_id, the parameters are top_k, sequence_start and sequence_end; got {sorted(parameters)}"
            )
        if not isinstance(top_k, int) or isinstance(top_k, bool) or not 1 <= top_k <= MAX_TOP_K:
            raise bad_request(f"top_k must be an integer from 1 to {MAX_TOP_K}")
        [text] = strings(the_input(request, "text"), most=1)
        key = f"oip:{model}:{sequence_id}"  # a namespace of its own: a sequence id is the client's choice
        if starting:
            sessions.discard(key)
            ready = inference.registry.resolve(model, SessionStepPredictor)
            session, result = await feed(inference, ready, None, SessionStep(text, None))
            sessions.add(session, key)
        else:
            session, result = await append_to(inference, sessions, key, text)
        if ending:
            sessions.delete(key)
        return [
            output("word", "BYTES", [1, top_k], [word for word, _ in result.top[:top_k]]),
            output("probability", "FP32", [1, top_k], [probability for _, probability in result.top[:top_k]]),
            output("perplexity", "FP32", [1], [session.perplexity]),
            output("token_count", "INT32", [1], [session.token_count]),
        ]

    @staticmethod
    async def _next_word(inference: Inference, model: str, texts: list[str], parameters: dict[str, Any]) -> list[ResponseOutput]:
        bodies = [validate_value(NextWordRequest, {"model": model, "text": text, **parameters}, "inputs") for text in texts]
        answers = await asyncio.gather(*(inference.answer(NextWordPredictor, model, body) for body in bodies))
        top_k = min(len(answer.predictions) for answer in answers)  # fewer than asked only past the vocabulary's end
        shape = [len(texts), top_k]
        return [
            output("word", "BYTES", shape, [p.word for answer in answers for p in answer.predictions[:top_k]]),
            output("probability", "FP32", shape, [p.probability for answer in answers for p in answer.predictions[:top_k]]),
        ]

    @staticmethod
    async def _perplexity(inference: Inference, model: str, texts: list[str]) -> list[ResponseOutput]:
        bodies = [validate_value(PerplexityRequest, {"model": model, "text": text}, "inputs") for text in texts]
        answers = await asyncio.gather(*(inference.answer(PerplexityPredictor, model, body) for body in bodies))
        return [
            output("perplexity", "FP32", [len(texts)], [answer.perplexity for answer in answers]),
            output("token_count", "INT32", [len(texts)], [answer.token_count for answer in answers]),
        ]

    @staticmethod
    async def _generate(
        inference: Inference, model: str, texts: list[str], parameters: dict[str, Any], disconnected: Disconnected
    ) -> list[ResponseOutput]:
        bodies = [validate_value(GenerateRequest, {"model": model, "prompt": text, **parameters}, "inputs") for text in texts]

        async def generate(body: GenerateRequest) -> tuple[str, int]:
            ready, seed, tokens = generation.start(inference, body, disconnected)
            answer = await generation.collect(ready, tokens, seed)
            return answer.generated_text, answer.seed

        answers = await asyncio.gather(*(generate(body) for body in bodies))
        return [
            output("generated_text", "BYTES", [len(texts)], [text for text, _ in answers]),
            output("seed", "INT64", [len(texts)], [seed for _, seed in answers]),
        ]


class ForecastTensors(TaskTensors):
    parameters: ClassVar[dict[str, str]] = {
        "horizon": "steps to forecast (required), at most the model's max_horizon",
        "quantiles": "interval levels to return, among the card's io.quantiles, e.g. [0.1, 0.9]",
        "method": "auto (default: backtest the card's io.methods on the history) or one of io.methods",
    }

    def inputs(self, card: ModelCard) -> list[TensorMetadata]:
        features = len(card.io.features) if isinstance(card.io, ForecastIO) else 1
        return [TensorMetadata(name="history", datatype="FP32", shape=[-1] if features == 1 else [-1, features])]

    def outputs(self, card: ModelCard) -> list[TensorMetadata]:
        return [
            TensorMetadata(name="forecast", datatype="FP32", shape=[-1]),
            TensorMetadata(name="quantiles", datatype="FP32", shape=[-1, -1]),  # rows in the order asked
            TensorMetadata(name="method", datatype="BYTES", shape=[1]),  # what answered
            TensorMetadata(name="season", datatype="INT64", shape=[1]),  # the season estimated from the history
        ]

    async def infer(
        self, inference: Inference, model: str, request: InferRequest, disconnected: Disconnected, sessions: SessionStore
    ) -> list[ResponseOutput]:
        tensor = the_input(request, "history")
        if tensor.datatype not in NUMERIC or len(tensor.shape) not in (1, 2):
            raise bad_request(f"input 'history' must be numbers of shape [T] or [T, F]; got {tensor.datatype} {tensor.shape}")
        if not all(isinstance(value, int | float) and not isinstance(value, bool) for value in tensor.data):
            raise bad_request("input 'history' must hold numbers")
        values = [float(value) for value in tensor.data]
        width = tensor.shape[1] if len(tensor.shape) == 2 else 0
        history: list[Any] = [values[row : row + width] for row in range(0, len(values), width)] if width else values
        parameters = dict(request.parameters or {})
        unknown = sorted(set(parameters) - set(self.parameters))
        if unknown or "horizon" not in parameters:
            raise bad_request(f"forecast takes the parameters horizon (required), quantiles and method; got {sorted(parameters)}")
        body = validate_value(ForecastRequest, {"model": model, "history": history, **parameters}, "parameters")
        answer = await inference.answer(ForecastPredictor, model, body)
        outputs = [output("forecast", "FP32", [answer.horizon], answer.forecast)]
        if answer.quantiles:
            rows = list(answer.quantiles.values())
            outputs.append(output("quantiles", "FP32", [len(rows), answer.horizon], [value for row in rows for value in row]))
        outputs.append(output("method", "BYTES", [1], [answer.method]))
        outputs.append(output("season", "INT64", [1], [answer.season]))
        return outputs


TASK_TENSORS: dict[str, TaskTensors] = {
    "sentiment": SentimentTensors(),
    "language-model": LanguageModelTensors(),
    "forecast": ForecastTensors(),
}


def requested(outputs: list[ResponseOutput], request: InferRequest) -> list[ResponseOutput]:
    """The outputs the request names (all when it names none); an unknown name is a bad request."""
    if request.outputs is None:
        return outputs
    available = {tensor.name: tensor for tensor in outputs}
    unknown = [wanted.name for wanted in request.outputs if wanted.name not in available]
    if unknown:
        raise bad_request(f"unknown output(s) {unknown}; this request gives {sorted(available)}")
    return [available[wanted.name] for wanted in request.outputs]
