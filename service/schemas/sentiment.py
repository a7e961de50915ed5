"""POST /v1/sentiment."""

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from service.schemas.common import ModelRequest

MAX_TEXTS = 64
MAX_TEXT_CHARS = 20_000


class SentimentRequest(ModelRequest):
    model_config = ConfigDict(
        extra="forbid",
        strict=True,  # JSON types as sent: "5" is not a number, "yes" not a boolean
        json_schema_extra={"examples": [{"texts": ["a wonderful film", "dull and far too long"]}]},
    )

    texts: list[Annotated[str, Field(min_length=1, max_length=MAX_TEXT_CHARS)]] = Field(
        min_length=1,
        max_length=MAX_TEXTS,
        description=f"1 to {MAX_TEXTS} texts of 1 to {MAX_TEXT_CHARS:,} characters",
    )


class SentimentResult(BaseModel):
    label: str = Field(description="the likelier class: negative or positive")
    score: float = Field(description="the probability of `label`")
    probabilities: dict[str, float] = Field(description="every class's probability")
    truncated: bool = Field(description="whether the text was cut to the model's max_length tokens")
    known_words: int = Field(
        description="tokens fed (words and punctuation marks) that the model's vocabulary has"
    )


class SentimentResponse(BaseModel):
    model: str
    version: str
    results: list[SentimentResult]
