"""A traffic meter: real HTTP requests to a Service, counted by the track that served each one.

Every response of the samples carries ``X-Served-By: <track>/<version>`` and ``X-Served-By-Pod: <pod
name>``. Each request here opens a
new TCP connection (``Connection: close``), so kube-proxy picks a backend pod for every request and
the counts show the split the cluster really makes. Standard library only: the same module runs on
the host (``HostMeter``) and, through ``kubectl exec``, inside a pod made from a sample image
(``PodMeter``; on kind the host cannot reach ClusterIPs). Command line::

    python -m sample_common.traffic measure URL --count N [--concurrency C] [--timeout T]
    python -m sample_common.traffic stream URL [--window W] [--duration D] [--concurrency C] [--timeout T]
    python -m sample_common.traffic call METHOD URL [--body JSON] [--timeout T]
"""

from __future__ import annotations

import argparse
import errno
import http.client
import json
import math
import os
import queue
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from collections import Counter
from collections.abc import Generator, Sequence
from dataclasses import dataclass, field
from types import TracebackType
from typing import IO, Any, Protocol

__all__ = ["HostMeter", "Load", "Meter", "PodMeter", "Result", "Tally", "TrackShare", "Window", "call", "classify",
           "compare", "measure", "meter_pod_manifest", "request_once", "settle", "stream"]

UNKNOWN_TRACK = "unknown"
_UNREACHABLE = {errno.EHOSTUNREACH, errno.ENETUNREACH, errno.EHOSTDOWN, errno.EINVAL}


@dataclass(frozen=True)
class Result:
    """One request: the track that served it, or the kind of error (see ``classify``)."""

    track: str | None
    error: str | None
    status: int | None
    ms: float
    done: float  # time.time() when it completed
    pod: str | None = None  # X-Served-By-Pod


@dataclass
class Tally:
    """What a batch of requests found. ``served`` and ``latencies_ms`` count answers below 500."""

    sent: int = 0
    served: Counter[str] = field(default_factory=Counter)
    errors: Counter[str] = field(default_factory=Counter)
    statuses: Counter[int] = field(default_factory=Counter)
    latencies_ms: list[float] = field(default_factory=list)
    pods: Counter[str] = field(default_factory=Counter)  # answers below 500, by pod name

    @property
    def ok(self) -> int:
        return sum(self.served.values())

    @property
    def failed(self) -> int:
        return sum(self.errors.values())

    def add(self, result: Result) -> None:
        self.sent += 1
        if result.status is not None:
            self.statuses[result.status] += 1
        if result.error is not None:
            self.errors[result.error] += 1
        else:
            self.served[result.track or UNKNOWN_TRACK] += 1
            self.latencies_ms.append(result.ms)
            if result.pod:
                self.pods[result.pod] += 1

    def shares(self) -> dict[str, float]:
        """Percent of the served requests, by track."""
        ok = self.ok
        return {track: 100.0 * n / ok for track, n in sorted(self.served.items())} if ok else {}

    def merge(self, other: Tally) -> Tally:
        """Adds ``other`` into this tally, in place, and returns it."""
        self.sent += other.sent
        self.served.update(other.served)
        self.errors.update(other.errors)
        self.statuses.update(other.statuses)
        self.latencies_ms.extend(other.latencies_ms)
        self.pods.update(other.pods)
        return self

    def __add__(self, other: Tally) -> Tally:
        return Tally().merge(self).merge(other)

    def percentile(self, p: float) -> float | None:
        """The nearest-rank ``p``-th percentile of the latencies in ms; None without any."""
        if not self.latencies_ms:
            return None
        ordered = sorted(self.latencies_ms)
        rank = max(math.ceil(p / 100 * len(ordered)), 1)
        return ordered[min(rank, len(ordered)) - 1]

    def to_json(self) -> dict[str, Any]:
        latency = {f"p{p}": self.percentile(p) for p in (50, 90, 99)}
        return {"sent": self.sent, "ok": self.ok, "failed": self.failed, "shares": self.shares(),
                "served": dict(self.served), "errors": dict(self.errors), "pods": dict(self.pods),
                "statuses": {str(code): n for code, n in sorted(self.statuses.items())},
                "latency_ms": {**latency, "max": self.percentile(100), "count": len(self.latencies_ms)},
                "latencies_ms": [round(ms, 3) for ms in self.latencies_ms]}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Tally:
        """The inverse of ``to_json`` (the derived fields ok, failed, shares, latency_ms are ignored)."""
        return cls(sent=int(data["sent"]), served=Counter(data.get("served", {})),
                   errors=Counter(data.get("errors", {})),
                   statuses=Counter({int(code): n for code, n in data.get("statuses", {}).items()}),
                   latencies_ms=[float(ms) for ms in data.get("latencies_ms", [])],
                   pods=Counter(data.get("pods", {})))

    def summary(self) -> str:
        """One line, e.g. ``100 sent: 98 ok (v1 90.8%, v2 9.2%), 2 failed (refused 2); p50 1.2 ms, p99 3.4 ms``."""
        shares = ", ".join(f"{track} {share:.1f}%" for track, share in self.shares().items())
        line = f"{self.sent} sent: {self.ok} ok" + (f" ({shares})" if shares else "")
        if self.errors:
            line += f", {self.failed} failed ({', '.join(f'{k} {n}' for k, n in sorted(self.errors.items()))})"
        p50, p99 = self.percentile(50), self.percentile(99)
        if p50 is not None and p99 is not None:
            line += f"; p50 {p50:.1f} ms, p99 {p99:.1f} ms"
        return line


@dataclass
class Window:
    """The requests that completed between ``start`` and ``end`` (epoch seconds)."""

    start: float
    end: float
    tally: Tally

    def to_json(self) -> dict[str, Any]:
        return {"start": self.start, "end": self.end, "tally": self.tally.to_json()}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Window:
        return cls(start=float(data["start"]), end=float(data["end"]), tally=Tally.from_json(data["tally"]))


@dataclass(frozen=True)
class TrackShare:
    """A track's effective weight (status.tracks[].effectiveWeight) next to its measured share, in percent."""

    name: str
    effective: float
    measured: float

    @property
    def delta(self) -> float:
        return self.measured - self.effective


def compare(tally: Tally, status: dict[str, Any]) -> list[TrackShare]:
    """Status tracks in their order, then tracks that served requests but are not in the status (effective 0)."""
    shares = tally.shares()
    effective = {t["name"]: float(t.get("effectiveWeight") or 0) for t in status.get("tracks") or []}
    names = list(effective) + sorted(set(shares) - set(effective))
    return [TrackShare(name, effective.get(name, 0.0), shares.get(name, 0.0)) for name in names]


def classify(err: BaseException) -> str:
    """The error kind of a failed request: refused, reset, timeout, unreachable, dns or other."""
    if isinstance(err, socket.gaierror):
        return "dns"
    if isinstance(err, ConnectionRefusedError):
        return "refused"
    if isinstance(err, ConnectionResetError | ConnectionAbortedError | BrokenPipeError
                  | http.client.RemoteDisconnected):
        return "reset"
    if isinstance(err, TimeoutError):
        return "timeout"
    if isinstance(err, OSError) and err.errno in _UNREACHABLE:  # EINVAL: connect() to a blackholed route
        return "unreachable"
    return "other"


def _connection(url: str, timeout: float) -> tuple[http.client.HTTPConnection, str]:
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"not an http(s) URL: {url!r}")
    kind = http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return kind(parts.hostname, parts.port, timeout=timeout), target


def _exchange(method: str, url: str, timeout: float, body: bytes | None = None,
              headers: dict[str, str] | None = None) -> tuple[int, http.client.HTTPMessage, bytes]:
    """One request on a new connection: status, headers and body. Raises OSError/HTTPException."""
    conn, target = _connection(url, timeout)
    try:
        conn.request(method, target, body=body, headers={"Connection": "close", **(headers or {})})
        response = conn.getresponse()
        return response.status, response.msg, response.read()
    finally:
        conn.close()


def request_once(url: str, timeout: float = 2.0, method: str = "GET", headers: dict[str, str] | None = None,
                 ) -> Result:
    """One request. ``timeout`` bounds each socket operation (connect, each read), as http.client does;
    ``headers`` are sent too (a ``Host`` for a Gateway's listener, say)."""
    started = time.perf_counter()
    try:
        status, answer, _ = _exchange(method, url, timeout, headers=headers)
    except (OSError, http.client.HTTPException) as err:
        return Result(None, classify(err), None, (time.perf_counter() - started) * 1000, time.time())
    ms = (time.perf_counter() - started) * 1000
    error = f"http-{status}" if status >= 500 else None
    served_by = answer.get("X-Served-By")
    track = served_by.split("/", 1)[0] if served_by else UNKNOWN_TRACK
    return Result(track, error, status, ms, time.time(), answer.get("X-Served-By-Pod"))


def measure(url: str, count: int, concurrency: int = 8, timeout: float = 2.0, method: str = "GET", *,
            headers: dict[str, str] | None = None) -> Tally:
    """Sends exactly ``count`` requests from ``concurrency`` threads."""
    workers = max(min(concurrency, count), 1)
    quotas = [count // workers + (1 if i < count % workers else 0) for i in range(workers)]
    tallies = [Tally() for _ in quotas]

    def work(quota: int, tally: Tally) -> None:
        for _ in range(quota):
            tally.add(request_once(url, timeout, method, headers))

    threads = [threading.Thread(target=work, args=(q, t), name=f"traffic-measure-{i}", daemon=True)
               for i, (q, t) in enumerate(zip(quotas, tallies, strict=True))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    total = Tally()
    for tally in tallies:
        total.merge(tally)
    return total


def stream(url: str, stop: threading.Event | None = None, duration: float | None = None, window: float = 0.5, *,
           concurrency: int = 4, timeout: float = 2.0, headers: dict[str, str] | None = None,
           ) -> Generator[Window, None, None]:
    """Continuous load from ``concurrency`` threads, one Window per ``window`` seconds, until ``stop`` is set
    or ``duration`` has elapsed. A request counts in the window in which it completed; the requests still
    running at the end are awaited and counted in the last window, so the windows add up to every request
    sent. Closing the generator early stops and joins the workers (their last results are dropped)."""
    stop = stop or threading.Event()
    halt = threading.Event()
    results: queue.Queue[Result] = queue.Queue()

    def work() -> None:
        while not halt.is_set():
            results.put(request_once(url, timeout, headers=headers))

    threads = [threading.Thread(target=work, name=f"traffic-stream-{i}", daemon=True) for i in range(concurrency)]
    start = time.time()
    deadline = start + duration if duration is not None else math.inf
    for thread in threads:
        thread.start()
    try:
        while True:
            current = Window(start, min(start + window, deadline), Tally())
            _collect(results, current, stop)
            if stop.is_set() or current.end >= deadline:
                break
            yield current
            start = current.end
        halt.set()
        for thread in threads:
            thread.join()
        _drain(results, current)
        yield current
    finally:
        halt.set()
        for thread in threads:
            thread.join()


def _collect(results: queue.Queue[Result], window: Window, stop: threading.Event) -> None:
    """Fills ``window`` until its end; if ``stop`` is set first, ends the window there."""
    while (remaining := window.end - time.time()) > 0:
        if stop.is_set():
            window.end = time.time()
            return
        try:
            window.tally.add(results.get(timeout=min(remaining, 0.05)))
        except queue.Empty:
            continue


def _drain(results: queue.Queue[Result], window: Window) -> None:
    while True:
        try:
            result = results.get_nowait()
        except queue.Empty:
            return
        window.tally.add(result)
        window.end = max(window.end, result.done)


def call(method: str, url: str, timeout: float = 5.0, body: dict[str, Any] | None = None,
         headers: dict[str, str] | None = None) -> tuple[int, Any]:
    """One request with an optional JSON body and extra ``headers`` (say, Idempotency-Key): the status and
    the parsed JSON (or the text) of the answer. Raises OSError when there is no answer."""
    data = json.dumps(body).encode() if body is not None else None
    sent = {**({"Content-Type": "application/json"} if data is not None else {}), **(headers or {})}
    try:
        status, _, raw = _exchange(method.upper(), url, timeout, data, sent)
    except http.client.HTTPException as err:
        raise ConnectionError(f"{type(err).__name__}: {err}") from err
    text = raw.decode(errors="replace")
    try:
        return status, json.loads(text)
    except ValueError:
        return status, text


class Meter(Protocol):
    """Where the requests come from: this process (HostMeter) or a pod in the cluster (PodMeter)."""

    def measure(self, url: str, count: int, concurrency: int = 8, timeout: float = 2.0,
                headers: dict[str, str] | None = None) -> Tally: ...

    def stream(self, url: str, stop: threading.Event | None = None, duration: float | None = None,
               window: float = 0.5, *, concurrency: int = 4, timeout: float = 2.0,
               headers: dict[str, str] | None = None) -> Generator[Window, None, None]: ...

    def call(self, method: str, url: str, body: dict[str, Any] | None = None,
             headers: dict[str, str] | None = None) -> tuple[int, Any]: ...


class HostMeter:
    """Requests from this process: on the host they reach the Services through kube-proxy."""

    def measure(self, url: str, count: int, concurrency: int = 8, timeout: float = 2.0,
                headers: dict[str, str] | None = None) -> Tally:
        return measure(url, count, concurrency=concurrency, timeout=timeout, headers=headers)

    def stream(self, url: str, stop: threading.Event | None = None, duration: float | None = None,
               window: float = 0.5, *, concurrency: int = 4, timeout: float = 2.0,
               headers: dict[str, str] | None = None) -> Generator[Window, None, None]:
        return stream(url, stop=stop, duration=duration, window=window, concurrency=concurrency, timeout=timeout,
                      headers=headers)

    def call(self, method: str, url: str, body: dict[str, Any] | None = None,
             headers: dict[str, str] | None = None) -> tuple[int, Any]:
        return call(method, url, body=body, headers=headers)


def settle(meter: Meter, url: str, pods: set[str], *, batch: int = 200, timeout: float = 90.0,
           headers: dict[str, str] | None = None) -> int:
    """Sends batches of requests until one is answered by exactly ``pods``, without an error.

    A pod that is Ready in the API is not yet a backend until kube-proxy has synced its rules, and a
    pod that left may still be one for a moment; measuring before both settle measures the lag, not
    the split. Returns the requests sent; raises TimeoutError naming the pods still missing or extra.
    """
    deadline, sent = time.monotonic() + timeout, 0
    while True:
        tally = meter.measure(url, count=batch, headers=headers)
        sent += tally.sent
        answered = set(tally.pods)
        if answered == pods and not tally.failed:
            return sent
        if time.monotonic() > deadline:
            raise TimeoutError(f"{url}: after {sent} requests, still not served by exactly the ready pods: "
                               f"missing {sorted(pods - answered)}, extra {sorted(answered - pods)}, "
                               f"errors {dict(tally.errors)}")
        time.sleep(0.5)


class Load:
    """A meter's ``stream`` in a background thread, keeping every window, to ask afterwards what happened
    when: ``with Load(meter, url) as load: ... load.between(t0, t1)``."""

    def __init__(self, meter: Meter, url: str, window: float = 0.25, concurrency: int = 4,
                 timeout: float = 2.0, *, headers: dict[str, str] | None = None) -> None:
        self._windows: list[Window] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._error: BaseException | None = None
        self._headers = headers
        self._thread = threading.Thread(target=self._run, args=(meter, url, window, concurrency, timeout),
                                        name="traffic-load", daemon=True)

    def _run(self, meter: Meter, url: str, window: float, concurrency: int, timeout: float) -> None:
        try:
            for each in meter.stream(url, stop=self._stop, window=window, concurrency=concurrency, timeout=timeout,
                                     headers=self._headers):
                with self._lock:
                    self._windows.append(each)
        except Exception as err:  # re-raised by __exit__, in the caller's thread
            self._error = err

    def __enter__(self) -> Load:
        self._thread.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, err: BaseException | None, tb: TracebackType | None) -> None:
        self._stop.set()
        self._thread.join()
        if self._error is not None and err is None:
            raise RuntimeError(f"the load stopped early: {self._error}") from self._error

    @property
    def windows(self) -> list[Window]:
        with self._lock:
            return list(self._windows)

    def between(self, start: float, end: float) -> Tally:
        """The windows that overlap [start, end], added up."""
        return sum((w.tally for w in self.windows if w.end > start and w.start < end), Tally())

    def first_time(self, since: float, track: str, percent: float) -> float | None:
        """The end of the first window that starts after ``since`` in which ``track`` served at least
        ``percent`` of the requests sent (failed ones included); None while there is none."""
        for w in self.windows:
            if w.start >= since and w.tally.sent and 100 * w.tally.served[track] >= percent * w.tally.sent:
                return w.end
        return None


def meter_pod_manifest(namespace: str, name: str, image: str) -> dict[str, Any]:
    """A Pod that idles in a sample image (which has python with sample_common) and passes Pod Security
    "restricted". Its PID 1 exits on SIGTERM, so deleting it is quick."""
    idle = "import signal, sys; signal.signal(signal.SIGTERM, lambda *_: sys.exit(0)); signal.pause()"
    return {
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "namespace": namespace, "labels": {"app.kubernetes.io/name": "traffic-meter"}},
        "spec": {
            "restartPolicy": "Never",
            "terminationGracePeriodSeconds": 1,
            "securityContext": {"runAsNonRoot": True, "runAsUser": 65532, "runAsGroup": 65532,
                                "seccompProfile": {"type": "RuntimeDefault"}},
            "containers": [{
                "name": "meter", "image": image, "imagePullPolicy": "IfNotPresent",
                "command": ["python", "-c", idle],
                "securityContext": {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]},
                                    "readOnlyRootFilesystem": True},
                "resources": {"requests": {"cpu": "50m", "memory": "32Mi"}, "limits": {"memory": "128Mi"}},
            }],
        },
    }


class PodMeter:
    """Requests from a pod in the cluster, through ``kubectl exec ... python -m sample_common.traffic``.

    ``kubectl`` is the command prefix, e.g. ``["/path/kubectl", "--kubeconfig", "/path/config"]``: a prefix
    rather than a function because ``stream`` needs a long-running process (Popen) whose stdin it holds.
    The remote ``stream`` ends, with its last window, when that stdin closes."""

    def __init__(self, kubectl: Sequence[str], namespace: str, image: str, name: str = "traffic-meter") -> None:
        self.kubectl = list(kubectl)
        self.namespace = namespace
        self.image = image
        self.name = name

    def __enter__(self) -> PodMeter:
        self.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, err: BaseException | None, tb: TracebackType | None) -> None:
        self.delete()

    def _run(self, args: list[str], timeout: float, stdin: str | None = None) -> str:
        done = subprocess.run([*self.kubectl, *args], input=stdin, capture_output=True, text=True, timeout=timeout,
                              check=False)
        if done.returncode != 0:
            raise RuntimeError(f"kubectl {' '.join(args[:3])} failed ({done.returncode}): {done.stderr.strip()}")
        return done.stdout

    def _exec(self, *args: str, stdin: bool = False) -> list[str]:
        """The kubectl argv (without the prefix) that runs the traffic CLI in the pod."""
        return ["exec", *(["-i"] if stdin else []), "-n", self.namespace, self.name, "--",
                "python", "-m", "sample_common.traffic", *args]

    def exec(self, *command: str, timeout: float = 60) -> str:
        """Runs ``command`` in the pod and returns its stdout."""
        return self._run(["exec", "-n", self.namespace, self.name, "--", *command], timeout)

    def start(self) -> None:
        """Creates the pod (or keeps an identical one) and waits until it is Ready."""
        self._run(["apply", "-f", "-"], 60, stdin=json.dumps(meter_pod_manifest(self.namespace, self.name,
                                                                                self.image)))
        self._run(["wait", "-n", self.namespace, "--for=condition=Ready", f"pod/{self.name}", "--timeout=120s"], 150)

    def delete(self) -> None:
        self._run(["delete", "pod", "-n", self.namespace, self.name, "--wait=false", "--ignore-not-found"], 60)

    stop = delete

    def measure(self, url: str, count: int, concurrency: int = 8, timeout: float = 2.0,
                headers: dict[str, str] | None = None) -> Tally:
        args = self._exec("measure", url, "--count", str(count), "--concurrency", str(concurrency),
                          "--timeout", str(timeout), *_header_args(headers))
        return Tally.from_json(json.loads(self._run(args, 60 + count * timeout / max(concurrency, 1))))

    def call(self, method: str, url: str, body: dict[str, Any] | None = None,
             headers: dict[str, str] | None = None) -> tuple[int, Any]:
        """As ``call``; raises ConnectionError when the pod got no answer, RuntimeError when kubectl failed."""
        args = self._exec("call", method, url, *(["--body", json.dumps(body)] if body is not None else []),
                          *_header_args(headers))
        done = subprocess.run([*self.kubectl, *args], capture_output=True, text=True, timeout=60, check=False)
        try:
            answer = json.loads(done.stdout)
        except ValueError:
            raise RuntimeError(f"kubectl exec failed ({done.returncode}): {done.stderr.strip()}") from None
        if "error" in answer:
            raise ConnectionError(f"{answer['error']}: {answer.get('detail', '')}")
        return int(answer["status"]), answer["body"]

    def stream(self, url: str, stop: threading.Event | None = None, duration: float | None = None,
               window: float = 0.5, *, concurrency: int = 4, timeout: float = 2.0,
               headers: dict[str, str] | None = None) -> Generator[Window, None, None]:
        args = self._exec("stream", url, "--window", str(window), "--concurrency", str(concurrency),
                          "--timeout", str(timeout), *(["--duration", str(duration)] if duration is not None else []),
                          *_header_args(headers), stdin=True)
        with tempfile.TemporaryFile("w+") as stderr:
            proc = subprocess.Popen([*self.kubectl, *args], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                    stderr=stderr, text=True)
            yield from _remote_windows(proc, stop or threading.Event(), stderr, timeout)


def _header_args(headers: dict[str, str] | None) -> list[str]:
    return [arg for name, value in (headers or {}).items() for arg in ("--header", f"{name}: {value}")]


def _parse_headers(lines: list[str]) -> dict[str, str]:
    return {name.strip(): value.strip() for name, _, value in (line.partition(":") for line in lines)}


def _remote_windows(proc: subprocess.Popen[str], stop: threading.Event, stderr: IO[str],
                    timeout: float) -> Generator[Window, None, None]:
    """Windows read from a remote ``stream``; closing its stdin (on ``stop`` or close) ends it cleanly."""
    assert proc.stdin is not None and proc.stdout is not None
    finished = threading.Event()
    stdin = proc.stdin

    def watch() -> None:
        while not finished.is_set():
            if stop.wait(0.05):
                stdin.close()
                return

    watcher = threading.Thread(target=watch, name="traffic-pod-stream-watch", daemon=True)
    watcher.start()
    try:
        for line in proc.stdout:
            if line.strip():
                yield Window.from_json(json.loads(line))
        if proc.wait(timeout=timeout + 10) != 0 and not stop.is_set():
            stderr.seek(0)
            raise RuntimeError(f"kubectl exec ... stream failed ({proc.returncode}): {stderr.read().strip()}")
    finally:
        finished.set()
        watcher.join()
        _end(proc, timeout)


def _end(proc: subprocess.Popen[str], timeout: float) -> None:
    """Lets the remote stream finish after its stdin closes; terminates, then kills, kubectl if it does not."""
    if proc.stdin is not None:
        proc.stdin.close()
    for escalate in (proc.terminate, proc.kill):
        try:
            proc.wait(timeout=timeout + 5)
        except subprocess.TimeoutExpired:
            escalate()
        else:
            break
    else:
        proc.wait()
    if proc.stdout is not None:
        proc.stdout.close()


def _stdin_is_a_pipe() -> bool:
    """Only a pipe or socket on stdin means someone may close it to stop us (kubectl exec -i does);
    /dev/null or a file would end the stream at once, a terminal has Ctrl-C."""
    try:
        mode = os.fstat(sys.stdin.fileno()).st_mode
    except (OSError, ValueError, AttributeError):
        return False
    return stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode)


def _set_at_eof(fd: int, stop: threading.Event) -> None:
    """Reads with os.read: a daemon thread blocked in sys.stdin's buffered reader can abort the interpreter's exit."""
    while os.read(fd, 65536):
        pass
    stop.set()


def _run_stream(args: argparse.Namespace) -> int:
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    if _stdin_is_a_pipe():
        threading.Thread(target=_set_at_eof, args=(sys.stdin.fileno(), stop), daemon=True).start()
    for window in stream(args.url, stop=stop, duration=args.duration, window=args.window,
                         concurrency=args.concurrency, timeout=args.timeout, headers=_parse_headers(args.header)):
        print(json.dumps(window.to_json()), flush=True)
    return 0


def _run_call(args: argparse.Namespace) -> int:
    try:
        status, body = call(args.method, args.url, timeout=args.timeout,
                            body=json.loads(args.body) if args.body else None, headers=_parse_headers(args.header))
    except OSError as err:
        print(json.dumps({"error": classify(err), "detail": str(err)}))
        return 1
    print(json.dumps({"status": status, "body": body}))
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m sample_common.traffic",
                                     description="Real HTTP requests, counted by the track that served each one.")
    commands = parser.add_subparsers(dest="command", required=True)
    one = commands.add_parser("measure", help="send N requests, print one JSON tally")
    one.add_argument("url")
    one.add_argument("--count", type=int, required=True)
    one.add_argument("--concurrency", type=int, default=8)
    many = commands.add_parser("stream", help="continuous load, one JSON line per window, until stopped")
    many.add_argument("url")
    many.add_argument("--window", type=float, default=0.5)
    many.add_argument("--duration", type=float, default=None)
    many.add_argument("--concurrency", type=int, default=4)
    for sub in (one, many):
        sub.add_argument("--timeout", type=float, default=2.0)
    single = commands.add_parser("call", help="one request, print its status and body as JSON")
    single.add_argument("method")
    single.add_argument("url")
    single.add_argument("--body", help="a JSON object to send")
    single.add_argument("--timeout", type=float, default=5.0)
    for sub in (one, many, single):
        sub.add_argument("--header", action="append", default=[], metavar="NAME: VALUE", help="a header to send")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "measure":
        print(json.dumps(measure(args.url, args.count, concurrency=args.concurrency, timeout=args.timeout,
                                 headers=_parse_headers(args.header)).to_json()))
        return 0
    if args.command == "stream":
        return _run_stream(args)
    return _run_call(args)


if __name__ == "__main__":
    sys.exit(main())
