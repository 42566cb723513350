"""Runs a sample app with uvicorn, and drains before it stops.

    python -m sample_common.serve MODULE:APP [--host 0.0.0.0] [--port 8080]

On SIGTERM a plain uvicorn closes its listener at once, while kube-proxy may still send it new
connections for a moment (until it has seen the pod leave its Service's endpoints): those are
refused. Here, on the first SIGTERM, ``/readyz`` answers 503 and requests are still served for
SHUTDOWN_DELAY_SECONDS (default 3; 0 stops at once), then uvicorn shuts down gracefully as usual.
A second SIGTERM, or SIGINT, stops at once.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
from types import FrameType

import uvicorn
from fastapi import FastAPI
from uvicorn.importer import import_from_string


class DrainingServer(uvicorn.Server):
    """A uvicorn server whose first SIGTERM marks the app draining and stops it ``delay`` seconds later."""

    def __init__(self, config: uvicorn.Config, app: FastAPI, delay: float) -> None:
        super().__init__(config)
        self.app, self.delay = app, delay
        self._timer: threading.Timer | None = None

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        if sig != signal.SIGTERM or self._timer is not None or self.delay <= 0:
            super().handle_exit(sig, frame)
            return
        self.app.state.draining = True
        self._timer = threading.Timer(self.delay, super().handle_exit, (sig, frame))
        self._timer.daemon = True
        self._timer.start()


def shutdown_delay() -> float:
    value = os.environ.get("SHUTDOWN_DELAY_SECONDS", "3")
    try:
        delay = float(value)
    except ValueError:
        sys.exit(f"SHUTDOWN_DELAY_SECONDS must be a number of seconds, got {value!r}")
    if delay < 0:
        sys.exit(f"SHUTDOWN_DELAY_SECONDS must not be negative, got {value!r}")
    return delay


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sample_common.serve", description=__doc__.split("\n")[0])
    parser.add_argument("app", help="MODULE:APP, e.g. user_service.app:app")
    parser.add_argument("--host", default="0.0.0.0")
    parser.add_argument("--port", type=int, default=8080)
    args = parser.parse_args(argv)
    delay = shutdown_delay()
    app = import_from_string(args.app)
    server = DrainingServer(uvicorn.Config(app, host=args.host, port=args.port, access_log=False), app, delay)
    server.run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
