"""`python -m service`: serve on $HOST:$PORT (default 0.0.0.0:8000)."""

import os

import uvicorn


def main() -> None:
    # HOST and PORT are the shell's usual names, not RNNSERVE_ settings, so platforms that set them just work.
    host = os.environ.get("HOST", "0.0.0.0")
    port = int(os.environ.get("PORT", "8000"))
    uvicorn.run("service.main:app", host=host, port=port, log_level="warning", timeout_graceful_shutdown=30)


if __name__ == "__main__":
    main()
