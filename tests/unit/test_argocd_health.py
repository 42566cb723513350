"""The Argo CD health check in README.md, run as Argo CD runs it (Lua 5.1, as its gopher-lua) on the
statuses the operator writes: Progressing while a shift goes on, Degraded on failover, Healthy when Ready."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from lupa import lua51

README = (Path(__file__).resolve().parents[2] / "README.md").read_text()
[CHECK] = re.findall(r"```lua\n(.*?)```", README, re.DOTALL)


def health(obj: dict[str, Any]) -> tuple[str, str]:
    lua = lua51.LuaRuntime()
    # Argo CD hands the script the object as a table named obj and reads the table it returns.
    lua.globals().obj = lua.table_from(obj, recursive=True)
    result = lua.execute(CHECK)
    return result["status"], result["message"]


def ms(generation: int, observed: int | None, **conditions: str) -> dict[str, Any]:
    status: dict[str, Any] = {"conditions": [{"type": t, "status": s, "message": f"{t} is {s}"}
                                             for t, s in conditions.items()]}
    if observed is not None:
        status["observedGeneration"] = observed
    return {"metadata": {"generation": generation}, "status": status}


@pytest.mark.parametrize(("obj", "expected"), [
    ({"metadata": {"generation": 1}}, ("Progressing", "waiting for the operator")),
    (ms(2, 1, Ready="True", Degraded="False"), ("Progressing", "waiting for the operator")),
    (ms(2, 2, Ready="True", Progressing="False", Degraded="False"), ("Healthy", "Ready is True")),
    (ms(2, 2, Ready="False", Progressing="True", Degraded="False"), ("Progressing", "Ready is False")),
    (ms(3, 3, Ready="False", Degraded="True", FailedOver="True"), ("Degraded", "Degraded is True")),
    (ms(3, 3, Ready="True", Degraded="True"), ("Degraded", "Degraded is True")),
])
def test_the_readmes_argo_cd_health_check(obj: dict[str, Any], expected: tuple[str, str]) -> None:
    assert health(obj) == expected
