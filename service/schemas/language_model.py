"""POST /v1/next-word, /v1/generate and /v1/perplexity."""

from pydantic import BaseModel, ConfigDict, Field

from service.schemas.common import ModelRequest, Seed, WholeNumber

MAX_CONTEXT_CHARS = 2_000
MAX_TOP_K = 50
MAX_PERPLEXITY_CHARS = 20_000


class NextWordRequest(ModelRequest):
    model_config = ConfigDict(
        extra="forbid",
        strict=True,  # JSON types as sent: "5" is not a number, "yes" not a boolean
        json_schema_extra={"examples": [{"text": "the new york stock", "top_k": 5}]},
    )

    text: str = Field(
        min_length=1, max_length=MAX_CONTEXT_CHARS, description="the context; normalized as PTB was"
    )
    top_k: WholeNumber = Field(5, ge=1, le=MAX_TOP_K, description="how many next words to return")


class WordProbability(BaseModel):
    word: str
    probability: float


class NextWordResponse(BaseModel):
    model: str
    version: str
    predictions: list[WordProbability] = Field(description="most likely next words, <unk> and <eos> left out")
    context: list[str] = Field(description="the normalized tokens actually fed, after an implicit <eos>")
    unknown_words: list[str] = Field(description="context words outside the vocabulary (fed as <unk>)")


class GenerateRequest(ModelRequest):
    model_config = ConfigDict(
        extra="forbid",
        strict=True,  # JSON types as sent: "5" is not a number, "yes" not a boolean
        json_schema_extra={
            "examples": [
                {
                    "prompt": "the company said",
                    "max_new_tokens": 20,
                    "temperature": 0.8,
                    "top_k": 40,
                    "seed": 7,
                }
            ]
        },
    )

    prompt: str = Field(
        "", max_length=MAX_CONTEXT_CHARS, description="text to continue; empty starts a new sentence"
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
    stream: bool = Field(False, description="answer as server-sent events, one per token")


class GenerateResponse(BaseModel):
    model: str
    version: str
    generated_text: str = Field(description="the new tokens joined by spaces; <eos> is shown as a line break")
    tokens: list[str] = Field(description="the new tokens, <eos> included")
    seed: int | None = Field(
        description="the seed used (the request's, or the one drawn); null for greedy (temperature 0)"
    )


class PerplexityRequest(ModelRequest):
    model_config = ConfigDict(
        extra="forbid",
        strict=True,  # JSON types as sent: "5" is not a number, "yes" not a boolean
        json_schema_extra={"examples": [{"text": "the company said it expects a loss"}]},
    )

    text: str = Field(min_length=1, max_length=MAX_PERPLEXITY_CHARS, description="text to score")


class PerplexityResponse(BaseModel):
    model: str
    version: str
    perplexity: float = Field(
        description="exp of the mean negative log-likelihood per token, from <eos> through the closing <eos>"
    )
    token_count: int = Field(description="tokens scored, the closing <eos> included")
    unknown_count: int = Field(description="words scored as <unk>")
