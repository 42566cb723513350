"""What both sample services share: structured logs, metrics, the X-Served-By header, health routes,
and two fault switches for demos and tests, both off unless their environment variable is set:

- ``FAULT_INJECTION=enabled`` adds ``POST /fault/unready`` and ``POST /fault/ready``, which turn this
  process's ``/readyz`` to 503 and back (the operator then sees the pod unready and may fail over).
- ``FAULT_START=crash`` makes the process exit with status 1 while the app is created, i.e. when
  uvicorn imports it: a bad release whose pods crash-loop.
- ``FAULT_START=slow:SECONDS`` makes the app wait that many seconds before it is created, so the
  pod listens (and becomes ready) only then: a release that is slow to start.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from dataclasses import dataclass

from fastapi import FastAPI, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest

__all__ = ["FAULT_INJECTION_ENABLED", "FAULT_START_CRASH", "FAULT_START_SLOW", "REQUEST_ID_HEADER", "Faults",
           "instrument", "request_id", "served_by"]

FAULT_INJECTION_ENABLED = "enabled"
FAULT_START_CRASH = "crash"
REQUEST_ID_HEADER = "X-Request-ID"
# The request being served, for calls it makes to other services and for log lines (see instrument).
_REQUEST_ID: ContextVar[str | None] = ContextVar("request_id", default=None)
FAULT_START_SLOW = "slow:"  # followed by whole seconds
MAX_SLOW_START_SECONDS = 3600


class JsonFormatter(logging.Formatter):
    """One JSON object per line, with any ``extra=`` fields merged in."""

    _reserved = set(vars(logging.LogRecord("", 0, "", 0, "", None, None)))

    def format(self, record: logging.LogRecord) -> str:
        entry = {"time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S%z"), "level": record.levelname,
                 "logger": record.name, "message": record.getMessage()}
        entry.update({k: v for k, v in vars(record).items() if k not in self._reserved})
        if _REQUEST_ID.get() is not None:  # a line written while a request is served names it
            entry.setdefault("request_id", _REQUEST_ID.get())
        return json.dumps(entry, default=str)


def request_id() -> str | None:
    """The X-Request-ID of the request being served (taken from the caller, or made), if any."""
    return _REQUEST_ID.get()


def served_by() -> str:
    """``<track>/<version>`` from the TRACK and VERSION environment variables."""
    return f"{os.environ.get('TRACK', 'local')}/{os.environ.get('VERSION', 'dev')}"


def _logger(service: str) -> logging.Logger:
    logger = logging.getLogger(service)
    if not logger.handlers:
        handler = logging.StreamHandler(sys.stdout)
        handler.setFormatter(JsonFormatter())
        logger.addHandler(handler)
        logger.setLevel(os.environ.get("LOG_LEVEL", "INFO"))
        logger.propagate = False
    return logger


@dataclass
class Faults:
    """The injected faults of one app instance (kept in ``app.state.faults``)."""

    unready: bool = False


def _slow_start_seconds(value: str) -> int | None:
    """The seconds of ``slow:SECONDS``, or None if ``value`` is not of that form."""
    seconds = value.removeprefix(FAULT_START_SLOW)
    if value == seconds or not seconds.isdigit() or int(seconds) > MAX_SLOW_START_SECONDS:
        return None
    return int(seconds)


def _fail_start_if_asked(log: logging.Logger) -> None:
    """Exits with status 1 if FAULT_START is ``crash`` (or a typo); sleeps first if it is ``slow:N``."""
    value = os.environ.get("FAULT_START", "")
    if not value:
        return
    slow = _slow_start_seconds(value)
    if slow is not None:
        log.warning(f"FAULT_START={value}: starting in {slow} s, as a slow release would",
                    extra={"fault": "slow", "seconds": slow})
        time.sleep(slow)
        return
    if value == FAULT_START_CRASH:
        log.error("FAULT_START=crash: exiting with status 1 at start, as a bad release would",
                  extra={"fault": "crash"})
    else:
        log.error(f"FAULT_START={value!r} is not valid: the accepted values are {FAULT_START_CRASH!r} and "
                  f"'{FAULT_START_SLOW}SECONDS' (0 to {MAX_SLOW_START_SECONDS}), or leave it unset; "
                  "exiting with status 1", extra={"fault": "invalid"})
    raise SystemExit(1)


def _add_fault_routes(app: FastAPI, faults: Faults, log: logging.Logger) -> None:
    @app.post("/fault/unready", include_in_schema=False)
    def fault_unready() -> dict[str, bool]:
        faults.unready = True
        log.warning("fault set: /readyz answers 503 until POST /fault/ready",
                    extra={"fault": "unready", "ready": False})
        return {"ready": False}

    @app.post("/fault/ready", include_in_schema=False)
    def fault_ready() -> dict[str, bool]:
        faults.unready = False
        log.info("fault cleared: /readyz follows the service again", extra={"fault": "unready", "ready": True})
        return {"ready": True}


def instrument(app: FastAPI, service: str, ready: Callable[[], bool] = lambda: True) -> logging.Logger:
    """Adds /healthz, /readyz, /metrics, request metrics, JSON access logs, X-Served-By, X-Request-ID
    (the caller's, or a new one; in every log line written while the request is served) and the fault
    switches (see the module docstring). Exits the process if FAULT_START asks for it. The metrics
    registry is ``app.state.registry``, for the service's own metrics."""
    log = _logger(service)
    _fail_start_if_asked(log)
    registry = app.state.registry = CollectorRegistry()  # a service adds its own metrics to it
    requests = Counter("http_requests_total", "HTTP requests", ["route", "method", "status"], registry=registry)
    latency = Histogram("http_request_duration_seconds", "HTTP request latency", ["route", "method"],
                        registry=registry)
    faults = app.state.faults = Faults()
    pod_name = socket.gethostname()  # the pod's name in Kubernetes
    app.state.draining = False  # set by sample_common.serve at SIGTERM

    @app.middleware("http")
    async def observe(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        started = time.perf_counter()
        rid = request.headers.get(REQUEST_ID_HEADER) or uuid.uuid4().hex
        token = _REQUEST_ID.set(rid)
        try:
            response = await call_next(request)
        finally:
            _REQUEST_ID.reset(token)
        response.headers[REQUEST_ID_HEADER] = rid
        route = getattr(request.scope.get("route"), "path", "unmatched")
        elapsed = time.perf_counter() - started
        requests.labels(route, request.method, str(response.status_code)).inc()
        latency.labels(route, request.method).observe(elapsed)
        response.headers["X-Served-By"] = served_by()
        response.headers["X-Served-By-Pod"] = pod_name
        if route not in ("/healthz", "/readyz", "/metrics"):
            log.info("request", extra={"method": request.method, "route": route, "path": request.url.path,
                                       "status": response.status_code, "ms": round(elapsed * 1000, 2),
                                       "request_id": rid})
        return response

    @app.get("/healthz", include_in_schema=False)
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz", include_in_schema=False)
    def readyz(response: Response) -> dict[str, str]:
        if faults.unready:
            response.status_code = 503
            return {"status": "not ready", "fault": "unready"}
        if app.state.draining:
            response.status_code = 503
            return {"status": "draining"}
        if not ready():
            response.status_code = 503
            return {"status": "not ready"}
        return {"status": "ready"}

    @app.get("/metrics", include_in_schema=False)
    def metrics() -> Response:
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    if os.environ.get("FAULT_INJECTION") == FAULT_INJECTION_ENABLED:
        _add_fault_routes(app, faults, log)
    return log
