"""The language model's tensors in the Open Inference Protocol: next word, perplexity, generation, and
Triton's sequence parameters over server-side sessions (tensors.py describes every task's tensors)."""

import asyncio
from typing import Any, ClassVar

from models.artifact import ModelCard
from service.runtime.model import RequestContext
from service.runtime.registry import ModelRegistry
from service.schemas.language_model import MAX_TOP_K, GenerateRequest, NextWordRequest, PerplexityRequest
from service.schemas.oip import InferRequest, ResponseOutput, TensorMetadata
from service.tasks.language_model.generation import TextGenerator
from service.tasks.language_model.operations import NextWordPredictor, PerplexityPredictor
from service.tasks.language_model.session_flow import SessionFlow
from service.tasks.oip.tensors import (
    Disconnected,
    TaskTensors,
    bad_request,
    output,
    strings,
    the_input,
    validate_value,
)

SEQUENCE_PARAMETERS = {"sequence_id", "sequence_start", "sequence_end"}  # Triton's names
GREEDY_SEED = -1  # the `seed` output of a greedy generation, which draws nothing (INT64 has no null)
MAX_LM_TEXTS = 16  # texts in one language-model infer request; each runs as its own /v1 operation


class LanguageModelTensors(TaskTensors):
    tensor_of: ClassVar[dict[str, str]] = {"text": "text", "prompt": "text"}
    parameters: ClassVar[dict[str, str]] = {
        "operation": "next_word (default), perplexity or generate",
        "top_k": "next_word: how many words (default 5); generate: sample among the k likeliest (0: all)",
        "max_new_tokens": "generate: tokens to generate (default 20, at most 200)",
        "temperature": "generate: 0 is greedy (default 1.0)",
        "seed": "generate: same seed, same text (the output seed is -1 for greedy: temperature 0)",
        "sequence_id": "a session of the client's naming: one text feeds it on (next words and running "
        "perplexity)",
        "sequence_start": "with sequence_id: start (or restart) the sequence with this text",
        "sequence_end": "with sequence_id: end the sequence after this text",
    }
    OPERATION_PARAMETERS: ClassVar[dict[str, set[str]]] = {
        "next_word": {"top_k"},
        "perplexity": set(),
        "generate": {"max_new_tokens", "temperature", "top_k", "seed"},
    }

    def __init__(self, registry: ModelRegistry, generator: TextGenerator, sessions: SessionFlow) -> None:
        super().__init__(registry)
        self.generator, self.sessions = generator, sessions

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
        self, context: RequestContext, model: str, request: InferRequest, disconnected: Disconnected
    ) -> list[ResponseOutput]:
        parameters = dict(request.parameters or {})
        if SEQUENCE_PARAMETERS & set(parameters):
            return await self._sequence_step(context, model, request, parameters)
        operation = parameters.pop("operation", "next_word")
        if not isinstance(operation, str) or operation not in self.OPERATION_PARAMETERS:
            raise bad_request(
                f"operation must be one of {sorted(self.OPERATION_PARAMETERS)}; got {operation!r}"
            )
        unknown = sorted(set(parameters) - self.OPERATION_PARAMETERS[operation])
        if unknown:
            raise bad_request(f"{operation} takes no parameters {unknown}")
        texts = strings(the_input(request, "text"), most=MAX_LM_TEXTS)
        if operation == "next_word":
            return await self._next_word(context, model, texts, parameters)
        if operation == "perplexity":
            return await self._perplexity(context, model, texts)
        return await self._generate(context, model, texts, parameters, disconnected)

    async def _sequence_step(
        self, context: RequestContext, model: str, request: InferRequest, parameters: dict[str, Any]
    ) -> list[ResponseOutput]:
        """Triton's sequence parameters over a server-side session: `sequence_start` starts (or restarts) the
        sequence `sequence_id` with the text, a later request feeds it on, `sequence_end` ends it after."""
        sequence_id, top_k = parameters.pop("sequence_id", None), parameters.pop("top_k", 5)
        starting, ending = parameters.pop("sequence_start", False), parameters.pop("sequence_end", False)
        if not isinstance(sequence_id, str | int) or isinstance(sequence_id, bool) or str(sequence_id) == "":
            raise bad_request("sequence_id must be a non-empty string or an integer")
        if parameters or not isinstance(starting, bool) or not isinstance(ending, bool):
            raise bad_request(
                f"with a sequence_id, the parameters are top_k, sequence_start and sequence_end; got "
                f"{sorted(parameters)}"
            )
        if not isinstance(top_k, int) or isinstance(top_k, bool) or not 1 <= top_k <= MAX_TOP_K:
            raise bad_request(f"top_k must be an integer from 1 to {MAX_TOP_K}")
        [text] = strings(the_input(request, "text"), most=1)
        key = f"oip:{model}:{sequence_id}"  # a namespace of its own: a sequence id is the client's choice
        if starting:
            self.sessions.store.discard(key)
            _, session, result = await self.sessions.start(context, model, text, session_id=key)
        else:
            session, result = await self.sessions.append(context, key, text)
        if ending:
            self.sessions.store.delete(key)
        return [
            output("word", "BYTES", [1, top_k], [word for word, _ in result.top[:top_k]]),
            output("probability", "FP32", [1, top_k], [probability for _, probability in result.top[:top_k]]),
            output("perplexity", "FP32", [1], [session.perplexity]),
            output("token_count", "INT32", [1], [session.token_count]),
        ]

    async def _next_word(
        self, context: RequestContext, model: str, texts: list[str], parameters: dict[str, Any]
    ) -> list[ResponseOutput]:
        bodies = [
            validate_value(NextWordRequest, {"model": model, "text": text, **parameters}, "inputs")
            for text in texts
        ]
        ready = self.registry.resolve(model, NextWordPredictor)
        results = await asyncio.gather(*(ready.run(body, context) for body in bodies))
        top_k = min(
            len(result.predictions) for result in results
        )  # fewer than asked only past the vocabulary's end
        shape = [len(texts), top_k]
        return [
            output(
                "word", "BYTES", shape, [p.word for result in results for p in result.predictions[:top_k]]
            ),
            output(
                "probability",
                "FP32",
                shape,
                [p.probability for result in results for p in result.predictions[:top_k]],
            ),
        ]

    async def _perplexity(
        self, context: RequestContext, model: str, texts: list[str]
    ) -> list[ResponseOutput]:
        bodies = [
            validate_value(PerplexityRequest, {"model": model, "text": text}, "inputs") for text in texts
        ]
        ready = self.registry.resolve(model, PerplexityPredictor)
        results = await asyncio.gather(*(ready.run(body, context) for body in bodies))
        return [
            output("perplexity", "FP32", [len(texts)], [result.perplexity for result in results]),
            output("token_count", "INT32", [len(texts)], [result.token_count for result in results]),
        ]

    async def _generate(
        self,
        context: RequestContext,
        model: str,
        texts: list[str],
        parameters: dict[str, Any],
        disconnected: Disconnected,
    ) -> list[ResponseOutput]:
        bodies = [
            validate_value(GenerateRequest, {"model": model, "prompt": text, **parameters}, "inputs")
            for text in texts
        ]

        async def generate(body: GenerateRequest) -> tuple[str, int]:
            generated = await self.generator.start(context, body, disconnected).collect()
            return generated.generated_text, GREEDY_SEED if generated.seed is None else generated.seed

        results = await asyncio.gather(*(generate(body) for body in bodies))
        return [
            output("generated_text", "BYTES", [len(texts)], [text for text, _ in results]),
            output("seed", "INT64", [len(texts)], [seed for _, seed in results]),
        ]
