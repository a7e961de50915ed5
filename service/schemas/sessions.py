"""Language-model sessions: /v1/sessions and the state-token routes."""

from pydantic import BaseModel, ConfigDict, Field

from service.schemas.common import ModelRequest, Seed, WholeNumber
from service.schemas.language_model import MAX_CONTEXT_CHARS, MAX_TOP_K, WordProbability

MAX_STATE_CHARS = 16_384  # a token of the default model is about 2.3 KB
STRICT = ConfigDict(extra="forbid", strict=True)  # JSON types as sent, as every request body


class SessionStartRequest(ModelRequest):
    model_config = ConfigDict(**STRICT, json_schema_extra={"examples": [{"prompt": "the company said"}]})

    prompt: str = Field(
        "", max_length=MAX_CONTEXT_CHARS, description="text to feed first; empty starts a new sentence"
    )
    top_k: WholeNumber = Field(5, ge=1, le=MAX_TOP_K, description="how many next words to return")


class SessionAppendRequest(BaseModel):
    model_config = ConfigDict(**STRICT, json_schema_extra={"examples": [{"text": "it expects"}]})

    text: str = Field(
        min_length=1, max_length=MAX_CONTEXT_CHARS, description="text to feed, normalized as PTB was"
    )
    top_k: WholeNumber = Field(5, ge=1, le=MAX_TOP_K, description="how many next words to return")


class StateAppendRequest(SessionAppendRequest):
    model_config = ConfigDict(
        **STRICT, json_schema_extra={"examples": [{"state": "<a state token>", "text": "it expects"}]}
    )

    state: str = Field(
        min_length=1, max_length=MAX_STATE_CHARS, description="a state token from an earlier answer"
    )


class SessionGenerateRequest(BaseModel):
    model_config = ConfigDict(
        **STRICT, json_schema_extra={"examples": [{"max_new_tokens": 10, "seed": 7, "commit": False}]}
    )

    max_new_tokens: WholeNumber = Field(
        20, ge=1, le=200, description="tokens to generate; <eos> counts as one"
    )
    temperature: float = Field(
        1.0, ge=0, le=5, allow_inf_nan=False, description="0 is greedy; otherwise 0 < t <= 5"
    )
    top_k: WholeNumber = Field(
        0, ge=0, le=10_000, description="sample among the k likeliest words; 0 means no cut"
    )
    seed: Seed | None = Field(None, description="same seed, same text; random when absent")
    stream: bool = Field(False, description="answer as server-sent events, one per token, as /v1/generate")
    commit: bool = Field(True, description="whether the generated tokens join the session")


class StateGenerateRequest(SessionGenerateRequest):
    model_config = ConfigDict(
        **STRICT, json_schema_extra={"examples": [{"state": "<a state token>", "max_new_tokens": 10}]}
    )

    state: str = Field(
        min_length=1, max_length=MAX_STATE_CHARS, description="a state token from an earlier answer"
    )


class SessionInfo(BaseModel):
    session_id: str | None = Field(description="the server-side session; null for a state-token call")
    model: str
    version: str
    token_count: int = Field(description="words fed so far (and generated tokens committed)")
    perplexity: float | None = Field(
        description="of everything fed so far, as /v1/perplexity without its closing <eos>"
    )
    expires_at: float = Field(description="Unix time at which the session (or its state token) expires")


class SessionAnswer(SessionInfo):
    predictions: list[WordProbability] = Field(
        description="the likeliest next words, <unk> and <eos> left out"
    )
    unknown_words: list[str] = Field(description="words of this call outside the vocabulary (fed as <unk>)")
    state: str | None = Field(
        description="a signed token of the state after this call; null when tokens are off"
    )


class SessionGenerateAnswer(SessionInfo):
    generated_text: str
    tokens: list[str]
    seed: int | None = Field(description="the seed used; null for greedy (temperature 0)")
    committed: bool
    state: str | None = Field(
        description="a signed token of the session's state after this call; null when tokens are off"
    )
