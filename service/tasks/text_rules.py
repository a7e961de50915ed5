"""One rule for every text endpoint: a text with no words once normalized, or with no word the model knows,
is a 422 with the same messages wherever it is sent."""

from service.errors import ErrorDetail, InvalidInput

Location = list[str | int]
EMPTY = "text is empty after normalization"
UNKNOWN = "no word of the text is in the vocabulary"


def no_words(locations: list[Location]) -> InvalidInput:
    details = [ErrorDetail(loc=location, msg=EMPTY) for location in locations]
    return InvalidInput("a text has no words once markup, punctuation and spaces are removed", details)


def no_known_words(locations: list[Location]) -> InvalidInput:
    details = [ErrorDetail(loc=location, msg=UNKNOWN) for location in locations]
    return InvalidInput("a text has no word the model knows, so the model cannot read it", details)


def is_word(token: str) -> bool:
    """A word, as counted and reported: it has a letter or a digit (punctuation and markup are not words)."""
    return any(character.isalnum() for character in token)
