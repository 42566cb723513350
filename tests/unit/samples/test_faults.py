from __future__ import annotations

import json
import logging
import os
import subprocess
import sys

import pytest
import sample_common
from fastapi.testclient import TestClient
from order_service.app import create_app as create_order_app
from order_service.users import UserClient
from user_service.app import create_app
from user_service.store import MemoryStore


@pytest.fixture
def faulty(monkeypatch: pytest.MonkeyPatch) -> TestClient:
    monkeypatch.setenv("FAULT_INJECTION", "enabled")
    monkeypatch.setenv("TRACK", "v1")
    monkeypatch.setenv("VERSION", "1.0.0")
    return TestClient(create_app(MemoryStore()))


def test_unready_fault_turns_readyz_to_503_until_cleared(faulty: TestClient) -> None:
    assert faulty.get("/readyz").status_code == 200
    set_fault = faulty.post("/fault/unready")
    assert set_fault.status_code == 200 and set_fault.json() == {"ready": False}
    assert set_fault.headers["X-Served-By"] == "v1/1.0.0"
    unready = faulty.get("/readyz")
    assert unready.status_code == 503 and unready.json() == {"status": "not ready", "fault": "unready"}
    assert faulty.get("/users").status_code == 200 and faulty.get("/healthz").status_code == 200
    cleared = faulty.post("/fault/ready")
    assert cleared.status_code == 200 and cleared.json() == {"ready": True}
    assert faulty.get("/readyz").status_code == 200


def test_the_fault_belongs_to_one_app_instance(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FAULT_INJECTION", "enabled")
    one, other = TestClient(create_app(MemoryStore())), TestClient(create_app(MemoryStore()))
    one.post("/fault/unready")
    assert one.get("/readyz").status_code == 503 and other.get("/readyz").status_code == 200


def test_order_service_has_the_switch_too(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FAULT_INJECTION", "enabled")
    client = TestClient(create_order_app(UserClient(base_url="http://127.0.0.1:9")))
    assert client.post("/fault/unready").status_code == 200 and client.get("/readyz").status_code == 503


@pytest.mark.parametrize("value", [None, "", "true", "Enabled", "1"])
def test_without_the_exact_switch_value_there_are_no_fault_routes(monkeypatch: pytest.MonkeyPatch,
                                                                   value: str | None) -> None:
    if value is None:
        monkeypatch.delenv("FAULT_INJECTION", raising=False)
    else:
        monkeypatch.setenv("FAULT_INJECTION", value)
    client = TestClient(create_app(MemoryStore()))
    assert client.post("/fault/unready").status_code == 404 and client.post("/fault/ready").status_code == 404
    assert client.get("/readyz").status_code == 200


def test_setting_and_clearing_the_fault_is_logged(faulty: TestClient, capsys: pytest.CaptureFixture[str],
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    handler = logging.getLogger("user-service").handlers[0]
    monkeypatch.setattr(handler, "stream", sys.stdout)
    faulty.post("/fault/unready")
    faulty.post("/fault/ready")
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    faults = [line for line in lines if line.get("fault") == "unready"]
    assert [f["ready"] for f in faults] == [False, True]
    assert "503" in faults[0]["message"]


@pytest.mark.parametrize("value", [None, ""])
def test_without_fault_start_the_app_starts(monkeypatch: pytest.MonkeyPatch, value: str | None) -> None:
    if value is None:
        monkeypatch.delenv("FAULT_START", raising=False)
    else:
        monkeypatch.setenv("FAULT_START", value)
    assert TestClient(create_app(MemoryStore())).get("/healthz").status_code == 200


@pytest.mark.parametrize("value", ["crash", "crahs", "slow", "slow:", "slow:-1", "slow:1.5", "slow:3601"])
def test_fault_start_exits_with_status_1_in_process(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv("FAULT_START", value)
    with pytest.raises(SystemExit) as exited:
        create_app(MemoryStore())
    assert exited.value.code == 1
    with pytest.raises(SystemExit) as exited:
        create_order_app(UserClient(base_url="http://user"))
    assert exited.value.code == 1


def _uvicorn(module: str, fault_start: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "FAULT_START": fault_start}
    return subprocess.run([sys.executable, "-m", "uvicorn", f"{module}:app", "--host", "127.0.0.1", "--port", "0"],
                          env=env, capture_output=True, text=True, timeout=30, check=False)


def test_fault_start_crash_makes_uvicorn_exit_1_with_a_json_log_line() -> None:
    done = _uvicorn("user_service.app", "crash")
    assert done.returncode == 1, done.stderr
    line = json.loads(done.stdout.splitlines()[0])
    assert line["level"] == "ERROR" and line["fault"] == "crash" and "FAULT_START=crash" in line["message"]


def test_an_unknown_fault_start_value_is_an_error_naming_the_variable_and_the_accepted_value() -> None:
    done = _uvicorn("user_service.app", "crash-loop")
    assert done.returncode == 1, done.stderr
    message = json.loads(done.stdout.splitlines()[0])["message"]
    assert "FAULT_START" in message and "'crash-loop'" in message and "'crash'" in message
    assert "'slow:SECONDS'" in message


def test_fault_start_slow_delays_the_app_then_starts_it(monkeypatch: pytest.MonkeyPatch) -> None:
    slept: list[float] = []
    monkeypatch.setattr(sample_common.time, "sleep", slept.append)
    monkeypatch.setenv("FAULT_START", "slow:25")
    assert TestClient(create_app(MemoryStore())).get("/healthz").status_code == 200
    assert slept == [25]
