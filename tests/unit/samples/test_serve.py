"""sample_common.serve, the images' entry point, as a real process: it drains before it stops."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _get(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=2) as resp:
            return int(resp.status)
    except urllib.error.HTTPError as err:
        return err.code


def _serve(port: int, **env: str) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "sample_common.serve", "user_service.app:app", "--host",
                             "127.0.0.1", "--port", str(port)], env={**os.environ, **env},
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def _wait_serving(port: int, proc: subprocess.Popen[str]) -> None:
    for _ in range(200):
        assert proc.poll() is None, proc.communicate()[0]
        try:
            if _get(f"http://127.0.0.1:{port}/readyz") == 200:
                return
        except OSError:
            pass
        time.sleep(0.05)
    raise AssertionError("the server did not start")


@contextmanager
def _serving(delay: str) -> Iterator[tuple[int, subprocess.Popen[str]]]:
    """A started server with SHUTDOWN_DELAY_SECONDS=delay; killed afterwards whatever happened."""
    port = _free_port()
    proc = _serve(port, SHUTDOWN_DELAY_SECONDS=delay)
    try:
        _wait_serving(port, proc)
        yield port, proc
    finally:
        proc.kill()


def test_after_sigterm_it_is_unready_but_still_serves_then_stops() -> None:
    with _serving("30") as (port, proc):
        proc.send_signal(signal.SIGTERM)
        time.sleep(0.2)
        assert _get(f"http://127.0.0.1:{port}/readyz") == 503
        assert _get(f"http://127.0.0.1:{port}/users") == 200  # new connections are still served
        assert proc.poll() is None
        proc.send_signal(signal.SIGTERM)  # a second one stops at once
        proc.wait(timeout=20)


def test_a_zero_delay_stops_at_the_first_sigterm() -> None:
    with _serving("0") as (_, proc):
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=20)


def test_a_bad_delay_and_a_crashing_release_exit_1() -> None:
    bad = _serve(_free_port(), SHUTDOWN_DELAY_SECONDS="soon")
    assert bad.wait(timeout=30) == 1 and "SHUTDOWN_DELAY_SECONDS" in (bad.communicate()[0] or "")
    crash = _serve(_free_port(), FAULT_START="crash")
    assert crash.wait(timeout=30) == 1 and "FAULT_START=crash" in (crash.communicate()[0] or "")
