"""What both sample services share: structured logs, metrics, the X-Served-By header, health routes."""

from __future__ import annotations

import json
import logging
import os
import sys
import time
from collections.abc import Awaitable, Callable

from fastapi import FastAPI, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest

__all__ = ["instrument", "served_by"]


class JsonFormatter(logging.Formatter):
    """One JSON object per line, with any ``extra=`` fields merged in."""

    _reserved = set(vars(logging.LogRecord("", 0, "", 0, "", None, None)))

    def format(self, record: logging.LogRecord) -> str:
        entry = {"time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S%z"), "level": record.levelname,
                 "logger": record.name, "message": record.getMessage()}
        entry.update({k: v for k, v in vars(record).items() if k not in self._reserved})
        return json.dumps(entry, default=str)


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


def instrument(app: FastAPI, service: str, ready: Callable[[], bool] = lambda: True) -> logging.Logger:
    """Adds /healthz, /readyz, /metrics, request metrics, JSON access logs and X-Served-By."""
    registry = CollectorRegistry()
    requests = Counter("http_requests_total", "HTTP requests", ["route", "method", "status"], registry=registry)
    latency = Histogram("http_request_duration_seconds", "HTTP request latency", ["route", "method"],
                        registry=registry)
    log = _logger(service)

    @app.middleware("http")
    async def observe(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        started = time.perf_counter()
        response = await call_next(request)
        route = getattr(request.scope.get("route"), "path", "unmatched")
        elapsed = time.perf_counter() - started
        requests.labels(route, request.method, str(response.status_code)).inc()
        latency.labels(route, request.method).observe(elapsed)
        response.headers["X-Served-By"] = served_by()
        if route not in ("/healthz", "/readyz", "/metrics"):
            log.info("request", extra={"method": request.method, "route": route, "path": request.url.path,
                                       "status": response.status_code, "ms": round(elapsed * 1000, 2)})
        return response

    @app.get("/healthz", include_in_schema=False)
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz", include_in_schema=False)
    def readyz(response: Response) -> dict[str, str]:
        if not ready():
            response.status_code = 503
            return {"status": "not ready"}
        return {"status": "ready"}

    @app.get("/metrics", include_in_schema=False)
    def metrics() -> Response:
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    return log
