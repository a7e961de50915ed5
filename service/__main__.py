"""`python -m service`: serve on $HOST:$PORT (default 0.0.0.0:8000).

On SIGTERM uvicorn stops accepting connections at once, lets the requests it already
accepted finish for up to RNNSERVE_DRAIN_TIMEOUT_S, then runs the app's shutdown.
"""

import os

import uvicorn

from service.settings import Settings


def main() -> None:
    # HOST and PORT are the shell's usual names, not RNNSERVE_ settings, so platforms that set them just work.
    host = os.environ.get("HOST", "0.0.0.0")
    port = int(os.environ.get("PORT", "8000"))
    settings = Settings()
    uvicorn.run(
        "service.main:app",
        host=host,
        port=port,
        log_level="warning",  # the app logs one structured line per request itself
        timeout_graceful_shutdown=int(settings.drain_timeout_s),
    )


if __name__ == "__main__":
    main()
