"""The calls to user-service: a timeout per attempt and a bounded number of retries.

A debit is retried with the same Idempotency-Key, so a retry after a lost answer cannot take the
money twice. Each call carries the X-Request-ID of the request being served.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable
from dataclasses import dataclass

import httpx
from sample_common import REQUEST_ID_HEADER, request_id

# user-service's answers to a debit, as the order's saga reads them
DEBIT_OUTCOMES = {201: "applied", 422: "insufficient", 404: "not_found", 409: "key_conflict"}


class UserServiceUnavailable(Exception):
    """user-service did not answer usefully within the time budget."""


@dataclass(frozen=True)
class UserClient:
    base_url: str = "http://user"
    timeout: float = 1.0  # seconds, per attempt
    retries: int = 2  # further attempts after the first, on connection errors and 5xx
    backoff: float = 0.1

    @classmethod
    def from_env(cls) -> UserClient:
        return cls(base_url=os.environ.get("USER_SERVICE_URL", "http://user").rstrip("/"),
                   timeout=float(os.environ.get("USER_TIMEOUT_SECONDS", "1.0")),
                   retries=int(os.environ.get("USER_RETRIES", "2")))

    async def debit(self, user_id: int, key: str, amount: int, on_retry: Callable[[], None] = lambda: None,
                    transport: httpx.AsyncBaseTransport | None = None) -> str:
        """``applied``, or why not (``insufficient``, ``not_found``, ``key_conflict``); raises
        UserServiceUnavailable when no attempt got an answer that says (the outcome is unknown)."""
        headers = {"Idempotency-Key": key, **({REQUEST_ID_HEADER: rid} if (rid := request_id()) else {})}
        last = "no attempt"
        async with httpx.AsyncClient(timeout=self.timeout, transport=transport) as client:
            for attempt in range(self.retries + 1):
                if attempt:
                    on_retry()
                    await asyncio.sleep(self.backoff * attempt)
                try:
                    response = await client.post(f"{self.base_url}/users/{user_id}/debits", json={"amount": amount},
                                                 headers=headers)
                except httpx.TransportError as err:
                    last = f"{type(err).__name__}"
                    continue
                if response.status_code in DEBIT_OUTCOMES:
                    return DEBIT_OUTCOMES[response.status_code]
                last = f"HTTP {response.status_code}"
        raise UserServiceUnavailable(f"user-service at {self.base_url} unavailable after "
                                     f"{self.retries + 1} attempts: {last}")
