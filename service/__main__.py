"""`python -m service`: serve on $HOST:$PORT (default 0.0.0.0:8000).

On SIGTERM uvicorn stops accepting connections at once and the app drains (service/runtime/drain.py):
admitted requests have RNNSERVE_DRAIN_TIMEOUT_S to finish, then what still waits is answered
503 `draining`. uvicorn's own window is a little longer, so those answers go out before it
cancels anything.
"""

import argparse
import logging
import math
import os

import uvicorn

from service.api.connections import head_timeout_protocol
from service.runtime.log import configure_logging
from service.settings import load_settings, settings_help

DRAIN_MARGIN_S = 3.0  # time to send the 503s and the streams' last events once the app's drain window closes


def parse_arguments() -> None:
    """`--help` lists the settings; the server takes no other argument (settings are in the environment)."""
    parser = argparse.ArgumentParser(
        prog="python -m service",
        description="Serve the models in RNNSERVE_ARTIFACTS_DIR over HTTP on $HOST:$PORT.",
        epilog="environment:\n  HOST (default 0.0.0.0), PORT (default 8000): where to listen\n"
        + settings_help(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.parse_args()


def main() -> None:
    parse_arguments()
    # HOST and PORT are the shell's usual names, not RNNSERVE_ settings, so platforms that set them just work.
    host = os.environ.get("HOST", "0.0.0.0")
    port = int(os.environ.get("PORT", "8000"))
    settings = load_settings()
    configure_logging(settings.log_level)
    logging.getLogger("rnnserve").info(
        "listening", extra={"fields": {"url": f"http://{host}:{port}", "docs": f"http://{host}:{port}/docs"}}
    )
    uvicorn.run(
        "service.main:app",
        host=host,
        port=port,
        log_level="warning",  # the app logs one structured line per request itself
        log_config=None,  # uvicorn's loggers keep the JSON handler configure_logging gave them
        http=head_timeout_protocol(settings.head_timeout_s),  # slow request heads are cut
        timeout_graceful_shutdown=math.ceil(settings.drain_timeout_s + DRAIN_MARGIN_S),
    )


if __name__ == "__main__":
    main()
