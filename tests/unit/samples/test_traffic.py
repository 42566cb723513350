"""The traffic meter against real local HTTP servers (and a fake kubectl that runs `exec` locally)."""

from __future__ import annotations

import errno
import http.client
import itertools
import json
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from sample_common.traffic import (
    HostMeter,
    Load,
    PodMeter,
    Tally,
    TrackShare,
    Window,
    call,
    classify,
    compare,
    measure,
    meter_pod_manifest,
    settle,
    stream,
)

from tests.conftest import free_port

# The n-th answer (0-based): (status, X-Served-By or None, body), or None to close without answering.
Answer = Callable[[int, threading.Event], tuple[int, str | None, bytes] | None]


class Backend:
    """A ThreadingHTTPServer on 127.0.0.1 that counts the requests it handled."""

    def __init__(self, answer: Answer) -> None:
        self.hits = 0
        self.bodies: list[bytes] = []
        self.headers: list[dict[str, str]] = []
        self.release = threading.Event()  # lets hanging handlers finish at teardown
        lock, backend = threading.Lock(), self

        class Handler(BaseHTTPRequestHandler):
            def _handle(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with lock:
                    n = backend.hits
                    backend.hits += 1
                    backend.bodies.append(body)
                    backend.headers.append(dict(self.headers.items()))
                reply = answer(n, backend.release)
                if reply is None:
                    return
                status, served_by, content = reply
                self.send_response(status)
                if served_by is not None:
                    self.send_header("X-Served-By", served_by)
                    self.send_header("x-served-by-pod", f"pod-{served_by.split('/')[0]}")  # any case
                self.send_header("Content-Length", str(len(content)))
                self.end_headers()
                self.wfile.write(content)

            do_GET = do_POST = _handle

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/users?x=1"

    def close(self) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()
        self.thread.join()


@pytest.fixture
def serve() -> Iterator[Callable[[Answer], Backend]]:
    started: list[Backend] = []

    def start(answer: Answer) -> Backend:
        started.append(Backend(answer))
        return started[-1]

    yield start
    for backend in started:
        backend.close()


def three_a_one_b(n: int, _: threading.Event) -> tuple[int, str | None, bytes]:
    return 200, "a/1" if n % 4 != 3 else "b/1", b"[]"


def stream_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("traffic-")]


def test_measure_counts_every_request_by_track(serve: Callable[[Answer], Backend]) -> None:
    backend = serve(three_a_one_b)
    tally = measure(backend.url, 40, concurrency=4)
    assert backend.hits == 40 and tally.sent == 40 and tally.ok == 40 and tally.failed == 0
    assert tally.served == Counter({"a": 30, "b": 10}) and tally.shares() == {"a": 75.0, "b": 25.0}
    assert tally.statuses == Counter({200: 40}) and len(tally.latencies_ms) == 40
    assert tally.pods == Counter({"pod-a": 30, "pod-b": 10})
    assert not stream_threads()


def test_settle_waits_until_exactly_the_given_pods_answer(serve: Callable[[Answer], Backend]) -> None:
    def b_joins_late(n: int, _: threading.Event) -> tuple[int, str | None, bytes]:
        return three_a_one_b(n, _) if n >= 100 else (200, "a/1", b"[]")

    backend = serve(b_joins_late)
    sent = settle(HostMeter(), backend.url, {"pod-a", "pod-b"}, batch=40)
    assert sent >= 120 and backend.hits == sent
    with pytest.raises(TimeoutError, match=r"missing \['pod-c'\], extra \[\]"):
        settle(HostMeter(), backend.url, {"pod-a", "pod-b", "pod-c"}, batch=8, timeout=0.2)
    with pytest.raises(TimeoutError, match=r"missing \[\], extra \['pod-b'\]"):
        settle(HostMeter(), backend.url, {"pod-a"}, batch=8, timeout=0.2)


def test_4xx_is_served_and_a_missing_header_is_unknown(serve: Callable[[Answer], Backend]) -> None:
    backend = serve(lambda n, _: (404, None, b"{}"))
    tally = measure(backend.url, 3, concurrency=2)
    assert tally.served == Counter({"unknown": 3}) and tally.statuses == Counter({404: 3}) and tally.failed == 0


def test_5xx_is_an_error_by_code(serve: Callable[[Answer], Backend]) -> None:
    backend = serve(lambda n, _: (503, "a/1", b"down"))
    tally = measure(backend.url, 4)
    assert tally.errors == Counter({"http-503": 4}) and tally.ok == 0 and tally.statuses == Counter({503: 4})
    assert tally.latencies_ms == []


def test_a_closed_port_is_refused() -> None:
    tally = measure(f"http://127.0.0.1:{free_port()}/", 5, concurrency=2)
    assert tally.sent == 5 and tally.errors == Counter({"refused": 5}) and tally.ok == 0


def test_a_slow_server_is_a_timeout(serve: Callable[[Answer], Backend]) -> None:
    def hang(n: int, release: threading.Event) -> None:
        release.wait(10)  # then closes without answering

    backend = serve(hang)
    started = time.monotonic()
    tally = measure(backend.url, 2, concurrency=2, timeout=0.2)
    assert tally.errors == Counter({"timeout": 2}) and time.monotonic() - started < 2


def test_a_server_that_hangs_up_is_a_reset(serve: Callable[[Answer], Backend]) -> None:
    backend = serve(lambda n, _: None)
    assert measure(backend.url, 3).errors == Counter({"reset": 3})


@pytest.mark.parametrize(("err", "kind"), [
    (socket.gaierror(socket.EAI_NONAME, "Name or service not known"), "dns"),
    (ConnectionRefusedError(errno.ECONNREFUSED, "refused"), "refused"),
    (ConnectionResetError(errno.ECONNRESET, "reset"), "reset"),
    (BrokenPipeError(errno.EPIPE, "pipe"), "reset"),
    (http.client.RemoteDisconnected("closed"), "reset"),
    (TimeoutError("timed out"), "timeout"),
    (OSError(errno.EHOSTUNREACH, "no route to host"), "unreachable"),
    (OSError(errno.ENETUNREACH, "network is unreachable"), "unreachable"),
    (OSError(errno.EINVAL, "invalid argument"), "unreachable"),
    (http.client.BadStatusLine("garbage"), "other"),
])
def test_classify(err: BaseException, kind: str) -> None:
    assert classify(err) == kind


def test_stream_windows_add_up_to_what_the_server_saw(serve: Callable[[Answer], Backend]) -> None:
    backend = serve(three_a_one_b)
    started = time.time()
    windows = list(stream(backend.url, duration=1.0, window=0.25, concurrency=2))
    assert len(windows) == 4 and all(w.tally.ok > 0 and w.tally.failed == 0 for w in windows)
    assert sum(w.tally.sent for w in windows) == backend.hits
    assert all(a.end == b.start for a, b in itertools.pairwise(windows))
    assert windows[0].start >= started and windows[-1].end >= started + 1.0
    assert not stream_threads()


def test_closing_a_stream_early_stops_its_threads(serve: Callable[[Answer], Backend]) -> None:
    backend = serve(three_a_one_b)
    baseline = threading.active_count()
    windows = stream(backend.url, window=0.2, concurrency=3)
    first = next(windows)
    assert first.tally.sent > 0 and len(stream_threads()) == 3
    windows.close()
    assert not stream_threads()
    deadline = time.monotonic() + 3  # the server's own handler threads finish their last answers
    while threading.active_count() > baseline and time.monotonic() < deadline:
        time.sleep(0.01)
    assert threading.active_count() <= baseline


def test_a_stream_ends_soon_after_stop_is_set(serve: Callable[[Answer], Backend]) -> None:
    backend = serve(three_a_one_b)
    stop = threading.Event()
    windows = []
    for window in stream(backend.url, stop=stop, window=0.2, concurrency=2):
        windows.append(window)
        if len(windows) == 2:
            stop.set()
            stopped = time.time()
    assert len(windows) == 3 and windows[-1].end - stopped < 1
    assert sum(w.tally.sent for w in windows) == backend.hits and not stream_threads()


def test_load_keeps_the_windows_of_a_background_stream(serve: Callable[[Answer], Backend]) -> None:
    backend = serve(lambda n, _: (200, "b/2", b""))
    since = time.time()
    with Load(HostMeter(), backend.url, window=0.1, concurrency=2) as load:
        deadline = time.monotonic() + 5
        while (moved := load.first_time(since, "b", 100)) is None and time.monotonic() < deadline:
            time.sleep(0.02)
    assert moved is not None and moved > since
    assert load.between(since, time.time()).served["b"] == backend.hits and not stream_threads()
    assert load.first_time(since, "a", 1) is None


def test_compare_puts_measured_shares_next_to_effective_weights() -> None:
    tally = Tally(sent=100, served=Counter({"v1": 90, "v2": 8, "v3": 2}))
    status = {"tracks": [{"name": "v1", "effectiveWeight": 90, "routingWeight": 90},
                         {"name": "v2", "effectiveWeight": 10}, {"name": "v0", "effectiveWeight": 0}]}
    shares = compare(tally, status)
    assert shares == [TrackShare("v1", 90, 90), TrackShare("v2", 10, 8), TrackShare("v0", 0, 0),
                      TrackShare("v3", 0, 2)]
    assert [s.delta for s in shares] == [0, -2, 0, 2]
    assert compare(Tally(), {}) == []


def test_tally_and_window_survive_json() -> None:
    tally = Tally(sent=6, served=Counter({"v1": 3, "unknown": 1}), errors=Counter({"refused": 1, "http-503": 1}),
                  statuses=Counter({200: 3, 404: 1, 503: 1}), latencies_ms=[1.5, 2.25, 3.125, 10.0],
                  pods=Counter({"v1-abc": 3}))
    data = json.loads(json.dumps(tally.to_json()))
    assert Tally.from_json(data) == tally
    assert data["ok"] == 4 and data["failed"] == 2 and data["shares"] == {"unknown": 25.0, "v1": 75.0}
    assert data["latency_ms"] == {"p50": 2.25, "p90": 10.0, "p99": 10.0, "max": 10.0, "count": 4}
    window = Window(1.0, 1.5, tally)
    assert Window.from_json(json.loads(json.dumps(window.to_json()))) == window


def test_tally_arithmetic_percentiles_and_summary() -> None:
    a = Tally(sent=2, served=Counter({"v1": 2}), statuses=Counter({200: 2}), latencies_ms=[1.0, 3.0])
    b = Tally(sent=2, served=Counter({"v2": 1}), errors=Counter({"timeout": 1}), latencies_ms=[2.0])
    total = a + b
    assert (total.sent, total.ok, total.failed, total.latencies_ms) == (4, 3, 1, [1.0, 3.0, 2.0])
    assert a.sent == 2 and sum([a, b], Tally()) == total
    assert total.percentile(50) == 2.0 and total.percentile(0) == 1.0 and total.percentile(100) == 3.0
    assert Tally().percentile(50) is None and Tally().shares() == {}
    assert total.summary() == "4 sent: 3 ok (v1 66.7%, v2 33.3%), 1 failed (timeout 1); p50 2.0 ms, p99 3.0 ms"
    assert Tally().summary() == "0 sent: 0 ok"


def test_call_sends_json_and_parses_the_answer(serve: Callable[[Answer], Backend]) -> None:
    backend = serve(lambda n, _: (200, "v1/1", b'{"ready": false}') if n == 0 else (500, None, b"oops"))
    assert call("POST", backend.url, body={"fault": "unready"}) == (200, {"ready": False})
    assert json.loads(backend.bodies[0]) == {"fault": "unready"}
    assert call("GET", backend.url) == (500, "oops")
    with pytest.raises(ConnectionRefusedError):
        call("GET", f"http://127.0.0.1:{free_port()}/", timeout=1)


def test_call_and_the_cli_send_extra_headers(serve: Callable[[Answer], Backend]) -> None:
    backend = serve(lambda n, _: (201, "v1/1", b'{"id": 7}'))
    assert call("POST", backend.url, body={}, headers={"Idempotency-Key": "k-1"}) == (201, {"id": 7})
    done = _cli("call", "POST", backend.url, "--body", "{}", "--header", "Idempotency-Key: k-2",
                "--header", "X-Request-ID:r-9")
    assert done.returncode == 0 and json.loads(done.stdout) == {"status": 201, "body": {"id": 7}}
    assert [(h["Idempotency-Key"], h["Content-Type"]) for h in backend.headers] == [
        ("k-1", "application/json"), ("k-2", "application/json")]
    assert backend.headers[1]["X-Request-ID"] == "r-9"


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "sample_common.traffic", *args], stdin=subprocess.DEVNULL,
                          capture_output=True, text=True, timeout=30, check=False)


def test_cli_stream_runs_for_its_duration_with_stdin_at_dev_null(serve: Callable[[Answer], Backend]) -> None:
    backend = serve(three_a_one_b)
    done = _cli("stream", backend.url, "--duration", "0.4", "--window", "0.2", "--concurrency", "1")
    windows = [Window.from_json(json.loads(line)) for line in done.stdout.splitlines()]
    assert done.returncode == 0 and len(windows) == 2 and sum(w.tally.sent for w in windows) == backend.hits


def test_cli_stream_stops_cleanly_when_stdin_closes(serve: Callable[[Answer], Backend]) -> None:
    backend = serve(three_a_one_b)
    proc = subprocess.Popen([sys.executable, "-m", "sample_common.traffic", "stream", backend.url, "--window", "0.2",
                             "--concurrency", "1"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert proc.stdin is not None and proc.stdout is not None
    first = Window.from_json(json.loads(proc.stdout.readline()))
    proc.stdin.close()
    rest = [Window.from_json(json.loads(line)) for line in proc.stdout]
    assert proc.wait(timeout=10) == 0 and first.tally.sent > 0
    assert sum(w.tally.sent for w in [first, *rest]) == backend.hits


FAKE_KUBECTL = """
import json, os, sys
log, args = sys.argv[1], sys.argv[2:]
entry = {"args": args, "stdin": json.loads(sys.stdin.read()) if args[0] == "apply" else None}
with open(log, "a") as f:
    f.write(json.dumps(entry) + "\\n")
if args[0] == "exec":
    command = args[args.index("--") + 1:]
    command[0] = sys.executable if command[0] == "python" else command[0]
    os.execv(command[0], command)
"""


@pytest.fixture
def fake_kubectl(tmp_path: Path) -> tuple[list[str], Path]:
    """A kubectl prefix that logs its arguments and runs `exec` commands here, in this machine."""
    script, log = tmp_path / "kubectl.py", tmp_path / "calls.jsonl"
    script.write_text(FAKE_KUBECTL)
    return [sys.executable, str(script), str(log)], log


def test_pod_meter_runs_the_cli_through_kubectl_exec(serve: Callable[[Answer], Backend],
                                                     fake_kubectl: tuple[list[str], Path]) -> None:
    """Also the CLI's test: the fake exec runs `python -m sample_common.traffic measure|call|stream` here."""
    backend = serve(three_a_one_b)
    kubectl, log = fake_kubectl
    with PodMeter(kubectl, "meter-ns", "example/user:1") as meter:
        assert meter.measure(backend.url, count=8, concurrency=2).served == Counter({"a": 6, "b": 2})
        assert meter.call("POST", backend.url, body={"k": 1}) == (200, [])
        stop = threading.Event()
        windows = []
        for window in meter.stream(backend.url, stop=stop, window=0.2, concurrency=1):
            windows.append(window)
            stop.set()
        assert len(windows) >= 1 and sum(w.tally.sent for w in windows) == backend.hits - 9
        assert meter.exec("python", "-c", "print('hi')") == "hi\n"
    calls = [json.loads(line) for line in log.read_text().splitlines()]
    assert calls[0] == {"args": ["apply", "-f", "-"], "stdin": meter_pod_manifest("meter-ns", "traffic-meter",
                                                                                  "example/user:1")}
    assert calls[1]["args"] == ["wait", "-n", "meter-ns", "--for=condition=Ready", "pod/traffic-meter",
                                "--timeout=120s"]
    assert calls[2]["args"] == ["exec", "-n", "meter-ns", "traffic-meter", "--", "python", "-m",
                                "sample_common.traffic", "measure", backend.url, "--count", "8", "--concurrency", "2",
                                "--timeout", "2.0"]
    assert calls[4]["args"][:3] == ["exec", "-i", "-n"] and "stream" in calls[4]["args"]
    assert calls[-1]["args"] == ["delete", "pod", "-n", "meter-ns", "traffic-meter", "--wait=false",
                                 "--ignore-not-found"]
    assert not stream_threads()


def test_pod_meter_call_without_an_answer_is_a_connection_error(fake_kubectl: tuple[list[str], Path]) -> None:
    """The CLI's `call` prints {"error": kind, ...} and exits 1 when nothing answers."""
    kubectl, _ = fake_kubectl
    with pytest.raises(ConnectionError, match="refused"):
        PodMeter(kubectl, "ns", "img").call("GET", f"http://127.0.0.1:{free_port()}/")


def test_the_meter_pod_passes_pod_security_restricted() -> None:
    pod = meter_pod_manifest("shop", "meter", "microservice-operator/user-service:0.1.0")
    assert pod["metadata"] == {"name": "meter", "namespace": "shop",
                               "labels": {"app.kubernetes.io/name": "traffic-meter"}}
    spec = pod["spec"]
    assert spec["securityContext"]["runAsNonRoot"] is True and spec["securityContext"]["runAsUser"] == 65532
    assert spec["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    assert spec["terminationGracePeriodSeconds"] == 1
    (container,) = spec["containers"]
    assert container["image"] == "microservice-operator/user-service:0.1.0"
    assert container["imagePullPolicy"] == "IfNotPresent" and container["command"][0] == "python"
    assert container["securityContext"]["allowPrivilegeEscalation"] is False
    assert container["securityContext"]["capabilities"] == {"drop": ["ALL"]}
    assert container["resources"]["requests"] and container["resources"]["limits"]["memory"]
    assert not any(key in spec for key in ("hostNetwork", "hostPID", "hostIPC", "volumes"))
