"""The HTTP floor for bench/load.py: uvicorn and FastAPI answering the next-word and sentiment paths with a
constant, after parsing the JSON body as FastAPI does. Its CPU per request is what any FastAPI server pays."""

import argparse
from typing import Any

import uvicorn
from fastapi import FastAPI

app = FastAPI()
NEXT_WORD = {
    "model": "floor",
    "version": "0",
    "predictions": [{"word": "exchange", "probability": 0.9}],
    "context": [],
    "unknown_words": [],
}
SENTIMENT = {"model": "floor", "version": "0", "results": [{"label": "positive", "score": 0.9}]}


@app.post("/v1/next-word")
async def next_word(body: dict[str, Any]) -> dict[str, Any]:
    return NEXT_WORD


@app.post("/v1/sentiment")
async def sentiment(body: dict[str, Any]) -> dict[str, Any]:
    return SENTIMENT


@app.get("/healthz")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True, help="loopback port to listen on")
    uvicorn.run(app, host="127.0.0.1", port=parser.parse_args().port, log_level="warning", access_log=False)
