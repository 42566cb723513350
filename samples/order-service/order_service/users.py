"""The call to user-service: a timeout per attempt and a bounded number of retries."""

from __future__ import annotations

import asyncio
import os
from dataclasses import dataclass

import httpx


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

    async def exists(self, user_id: int, transport: httpx.AsyncBaseTransport | None = None) -> bool:
        """True if user-service knows ``user_id``, False on 404; raises UserServiceUnavailable otherwise."""
        last = "no attempt"
        async with httpx.AsyncClient(timeout=self.timeout, transport=transport) as client:
            for attempt in range(self.retries + 1):
                if attempt:
                    await asyncio.sleep(self.backoff * attempt)
                try:
                    response = await client.get(f"{self.base_url}/users/{user_id}")
                except httpx.TransportError as err:
                    last = f"{type(err).__name__}"
                    continue
                if response.status_code in (200, 404):
                    return response.status_code == 200
                last = f"HTTP {response.status_code}"
        raise UserServiceUnavailable(f"user-service at {self.base_url} unavailable after "
                                     f"{self.retries + 1} attempts: {last}")
