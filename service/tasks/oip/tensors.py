"""Each task's tensors in the Open Inference Protocol (KServe v2), mapped onto the /v1 operations.

An infer request is turned into the task's /v1 request, run by the same ready models (the same predictors,
batchers, deadlines and limits), and its answer is turned into output tensors (the language model's
in language_model.py):

- sentiment: input `text` BYTES [N]; no parameters; outputs `label` BYTES [N], `score` FP32 [N] and
  `probabilities` FP32 [N, labels] (columns in the card's label order).
- language-model: input `text` BYTES [N]; the parameter `operation` picks the /v1 operation:
  - `next_word` (the default; `top_k`): `word` BYTES [N, k] and `probability` FP32 [N, k];
  - `perplexity`: `perplexity` FP32 [N] and `token_count` INT32 [N];
  - `generate` (`max_new_tokens`, `temperature`, `top_k`, `seed`): `generated_text` BYTES [N] and `seed` INT64
  [N];
  - with `sequence_id` (and `sequence_start`, `sequence_end`, Triton's names), one text feeds a server-side
    session (service/tasks/language_model/session_flow.py): `word` and `probability` [1, k], the running
    `perplexity` FP32 [1] and `token_count` INT32 [1].
- forecast: input `history` FP32 [T] or [T, F]; parameters `horizon` (required), `quantiles` and `method`;
  outputs `forecast` FP32 [H], when quantiles are asked `quantiles` FP32 [Q, H] (rows in the order asked),
  `method` BYTES [1] (what answered) and `season` INT64 [1].

Tensor data arrives here as values, nested or flat row-major: from JSON, or decoded from the binary
tensor data extension by service/api/binary_tensors.py.
"""

import math
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, ClassVar, TypeVar

from pydantic import BaseModel, ValidationError

from models.artifact import ModelCard
from models.card_io import ForecastIO
from service.errors import ErrorDetail, InvalidInput
from service.runtime.model import RequestContext
from service.runtime.registry import ModelRegistry
from service.schemas.forecast import ForecastRequest
from service.schemas.oip import Datatype, InferRequest, RequestInput, ResponseOutput, TensorMetadata
from service.schemas.sentiment import MAX_TEXTS, SentimentRequest
from service.tasks.forecast import ForecastPredictor
from service.tasks.sentiment import SentimentPredictor

NUMERIC = {"FP16", "FP32", "FP64", "INT8", "INT16", "INT32", "INT64", "UINT8"}
Disconnected = Callable[[], Awaitable[bool]]
BodyT = TypeVar("BodyT", bound=BaseModel)


def bad_request(message: str) -> InvalidInput:
    return InvalidInput(message)  # a 400 under /v2; the message names the tensor or parameter


def flatten(data: list[Any]) -> list[Any]:
    """Row-major values of nested lists (the protocol allows either form)."""
    return [value for item in data for value in (flatten(item) if isinstance(item, list) else [item])]


def follows(data: object, shape: list[int]) -> bool:
    """Whether nested lists have exactly the sizes `shape` gives, level by level."""
    if not shape:
        return not isinstance(data, list)
    return isinstance(data, list) and len(data) == shape[0] and all(follows(item, shape[1:]) for item in data)


def the_input(request: InferRequest, name: str) -> RequestInput:
    """The one input tensor a task takes, its values checked against its shape."""
    names = [tensor.name for tensor in request.inputs]
    if names != [name]:
        raise bad_request(f"this model takes one input tensor, {name!r}; got {names}")
    tensor = request.inputs[0]
    if any(isinstance(item, list) for item in tensor.data) and not follows(tensor.data, tensor.shape):
        raise bad_request(
            f"input {name!r} is nested otherwise than its shape {tensor.shape}: send it flat or as shaped"
        )
    values = flatten(tensor.data)
    if any(size < 0 for size in tensor.shape) or len(values) != math.prod(tensor.shape):
        raise bad_request(
            f"input {name!r} has {len(values)} values, but its shape {tensor.shape} holds "
            f"{math.prod(tensor.shape)}"
        )
    tensor.data = values
    return tensor


def strings(tensor: RequestInput, most: int) -> list[str]:
    """A BYTES [N] tensor's texts."""
    if tensor.datatype != "BYTES" or len(tensor.shape) != 1:
        raise bad_request(
            f"input {tensor.name!r} must be BYTES of shape [N]; got {tensor.datatype} {tensor.shape}"
        )
    if not 1 <= len(tensor.data) <= most:
        raise bad_request(f"input {tensor.name!r} takes 1 to {most} texts; got {len(tensor.data)}")
    if not all(isinstance(value, str) for value in tensor.data):
        raise bad_request(f"input {tensor.name!r} must hold strings")
    return list(tensor.data)


def output(name: str, datatype: Datatype, shape: list[int], data: Sequence[Any]) -> ResponseOutput:
    return ResponseOutput(name=name, datatype=datatype, shape=shape, data=list(data))


def validate_value(model: type[BodyT], value: dict[str, Any], where: str) -> BodyT:
    """`value`, built from the request's tensors and parameters, as the /v1 request `model`;
    faults are InvalidInput located at `where`."""
    try:
        return model.model_validate(value)
    except ValidationError as error:
        details = [ErrorDetail(loc=[where, *fault["loc"]], msg=str(fault["msg"])) for fault in error.errors()]
        raise InvalidInput("the request does not match the model's limits", details) from None


class TaskTensors(ABC):
    """How one task's requests and answers look as protocol tensors."""

    parameters: ClassVar[dict[str, str]]  # request parameter -> what it means (shown in the model's metadata)
    tensor_of: ClassVar[dict[str, str]]  # /v1 request field -> the input tensor it comes from

    def in_protocol_terms(self, error: InvalidInput) -> InvalidInput:
        """The same fault, located as this protocol's request sent it: a /v1 field becomes its input tensor
        (`texts.0` -> `inputs.text.0`), any other field its parameter."""
        details = []
        for detail in error.details:
            loc = list(detail.loc)
            if len(loc) > 1 and loc[0] in ("body", "inputs", "parameters") and isinstance(loc[1], str):
                field = loc[1]
                known = field in self.tensor_of
                loc = (
                    ["inputs", self.tensor_of[field], *loc[2:]] if known else ["parameters", field, *loc[2:]]
                )
            details.append(ErrorDetail(loc=loc, msg=detail.msg))
        return InvalidInput(error.message, details)

    def __init__(self, registry: ModelRegistry) -> None:
        self.registry = registry

    @abstractmethod
    def inputs(self, card: ModelCard) -> list[TensorMetadata]: ...

    @abstractmethod
    def outputs(self, card: ModelCard) -> list[TensorMetadata]: ...

    @abstractmethod
    async def infer(
        self, context: RequestContext, model: str, request: InferRequest, disconnected: Disconnected
    ) -> list[ResponseOutput]: ...


class SentimentTensors(TaskTensors):
    parameters: ClassVar[dict[str, str]] = {}
    tensor_of: ClassVar[dict[str, str]] = {"texts": "text"}

    def inputs(self, card: ModelCard) -> list[TensorMetadata]:
        return [TensorMetadata(name="text", datatype="BYTES", shape=[-1])]

    def outputs(self, card: ModelCard) -> list[TensorMetadata]:
        labels = len(getattr(card.io, "labels", ()))
        return [
            TensorMetadata(name="label", datatype="BYTES", shape=[-1]),
            TensorMetadata(name="score", datatype="FP32", shape=[-1]),
            TensorMetadata(
                name="probabilities", datatype="FP32", shape=[-1, labels]
            ),  # columns in the card's label order
        ]

    async def infer(
        self, context: RequestContext, model: str, request: InferRequest, disconnected: Disconnected
    ) -> list[ResponseOutput]:
        self._no_parameters(request)
        texts = strings(the_input(request, "text"), most=MAX_TEXTS)
        body = validate_value(SentimentRequest, {"model": model, "texts": texts}, "inputs")
        results = (await self.registry.resolve(model, SentimentPredictor).run(body, context)).results
        count, labels = len(results), len(results[0].probabilities)
        return [
            output("label", "BYTES", [count], [result.label for result in results]),
            output("score", "FP32", [count], [result.score for result in results]),
            output(
                "probabilities",
                "FP32",
                [count, labels],
                [p for result in results for p in result.probabilities.values()],
            ),
        ]

    @staticmethod
    def _no_parameters(request: InferRequest) -> None:
        if request.parameters:
            raise bad_request(f"sentiment takes no parameters; got {sorted(request.parameters)}")


class ForecastTensors(TaskTensors):
    tensor_of: ClassVar[dict[str, str]] = {"history": "history"}
    parameters: ClassVar[dict[str, str]] = {
        "horizon": "steps to forecast (required), at most the model's max_horizon",
        "quantiles": "interval levels to return, among the card's io.quantiles, e.g. [0.1, 0.9]",
        "method": "auto (default: backtest the card's io.methods on the history) or one of io.methods",
    }

    def inputs(self, card: ModelCard) -> list[TensorMetadata]:
        features = len(card.io.features) if isinstance(card.io, ForecastIO) else 1
        return [
            TensorMetadata(name="history", datatype="FP32", shape=[-1] if features == 1 else [-1, features])
        ]

    def outputs(self, card: ModelCard) -> list[TensorMetadata]:
        return [
            TensorMetadata(name="forecast", datatype="FP32", shape=[-1]),
            TensorMetadata(name="quantiles", datatype="FP32", shape=[-1, -1]),  # rows in the order asked
            TensorMetadata(name="method", datatype="BYTES", shape=[1]),  # what answered
            TensorMetadata(
                name="season", datatype="INT64", shape=[1]
            ),  # the season estimated from the history
        ]

    async def infer(
        self, context: RequestContext, model: str, request: InferRequest, disconnected: Disconnected
    ) -> list[ResponseOutput]:
        tensor = the_input(request, "history")
        if tensor.datatype not in NUMERIC or len(tensor.shape) not in (1, 2):
            raise bad_request(
                f"input 'history' must be numbers of shape [T] or [T, F]; got {tensor.datatype} "
                f"{tensor.shape}"
            )
        if not all(isinstance(value, int | float) and not isinstance(value, bool) for value in tensor.data):
            raise bad_request("input 'history' must hold numbers")
        try:
            values = [float(value) for value in tensor.data]
        except OverflowError:  # an integer with hundreds of digits
            raise bad_request("input 'history' holds a number too large for a float") from None
        width = tensor.shape[1] if len(tensor.shape) == 2 else 0
        history: list[Any] = (
            [values[row : row + width] for row in range(0, len(values), width)] if width else values
        )
        parameters = dict(request.parameters or {})
        unknown = sorted(set(parameters) - set(self.parameters))
        if unknown or "horizon" not in parameters:
            raise bad_request(
                f"forecast takes the parameters horizon (required), quantiles and method; got "
                f"{sorted(parameters)}"
            )
        body = validate_value(
            ForecastRequest, {"model": model, "history": history, **parameters}, "parameters"
        )
        forecast = await self.registry.resolve(model, ForecastPredictor).run(body, context)
        outputs = [output("forecast", "FP32", [forecast.horizon], forecast.forecast)]
        if forecast.quantiles:
            rows = list(forecast.quantiles.values())
            outputs.append(
                output(
                    "quantiles",
                    "FP32",
                    [len(rows), forecast.horizon],
                    [value for row in rows for value in row],
                )
            )
        outputs.append(output("method", "BYTES", [1], [forecast.method]))
        outputs.append(output("season", "INT64", [1], [forecast.season]))
        return outputs


def requested(outputs: list[ResponseOutput], request: InferRequest) -> list[ResponseOutput]:
    """The outputs the request names (all when it names none); an unknown name is a bad request."""
    if request.outputs is None:
        return outputs
    available = {tensor.name: tensor for tensor in outputs}
    unknown = [wanted.name for wanted in request.outputs if wanted.name not in available]
    if unknown:
        raise bad_request(f"unknown output(s) {unknown}; this request gives {sorted(available)}")
    return [available[wanted.name] for wanted in request.outputs]
