"""Structured logs: one JSON object per line."""

import json
import logging
import sys
from typing import Any


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        entry.update(getattr(record, "fields", {}))
        if record.exc_info:
            entry["traceback"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


def configure_logging(level: str) -> None:
    """rnnserve's loggers at `level`, and uvicorn's own (its warnings about malformed requests, its errors),
    all one JSON object per line on stderr."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger("rnnserve")
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    root.propagate = False
    server = logging.getLogger("uvicorn")
    server.handlers[:] = [handler]
    server.propagate = False
    for child in ("uvicorn.error", "uvicorn.access"):
        logging.getLogger(child).handlers[:] = []  # theirs go up to "uvicorn", in JSON
        logging.getLogger(child).propagate = True
    # The app logs one structured line per request itself; uvicorn's own access lines would double it.
    logging.getLogger("uvicorn.access").setLevel(logging.WARNING)
