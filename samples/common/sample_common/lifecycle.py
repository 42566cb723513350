"""Start, stop and readiness of a store kept in one process's memory: nothing to open, always ready."""

from __future__ import annotations


class InMemory:
    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        return None

    def ready(self) -> bool:
        return True
