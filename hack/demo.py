"""make demo: the sample services on the local cluster's real node, with real requests flowing.

It installs the operator with its Helm chart and the shipped samples, sends requests to both
services all along (a new connection each, counted by the X-Served-By header of the pod that
answered), and shows per track the configured and effective weights next to the share of requests
actually served and the errors. Each service keeps its data in its own PostgreSQL (user-db,
order-db), and orders are placed all along. Then it edits weights, scales, and makes order's primary
fail its readiness probe with the samples' fault switch: the requests move to the standby, and back,
with orders still confirmed; at the end every order is settled and the user's balance adds up.

With ROUTING=GatewayAPI (make demo ROUTING=GatewayAPI) user is routed by an HTTPRoute through the
local cluster's Gateway (Traefik, Gateway gateway-system/local on 127.0.0.1), and its requests go
there: the split is then per request, not per pod.

Every change is a command, printed before it runs. On a terminal a live view (rich); without one,
plain lines. The cluster, the operator and the samples are left running at the end.
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter, deque
from collections.abc import Callable
from pathlib import Path
from typing import Any

from rich.console import Console, Group
from rich.live import Live
from rich.table import Table
from rich.text import Text
from sample_common.traffic import HostMeter, Tally, Window

ROOT = Path(__file__).resolve().parents[1]
STATE = ROOT / ".cluster"
KUBECONFIG = STATE / "kubeconfig"
BIN = STATE / "bin"
NS = "shop"
RELEASE, RELEASE_NS = "microservice-operator", "microservice-operator-system"
STEP_TIMEOUT = 120.0
RECENT_SECONDS = 3.0  # the live share is over the requests of the last few seconds
ROUTING = os.environ.get("ROUTING", "Replicas")
USER_HOST = "user.shop.test"  # the HTTPRoute's host name with ROUTING=GatewayAPI


class DemoError(Exception):
    pass


def command(*args: str, show: bool = True, check: bool = True, stdin: str | None = None) -> str:
    """Runs kubectl or helm on the local cluster; ``show`` prints the command first, as a user types it."""
    if show:
        say(f"$ {shlex.join(args)}", style="bold cyan")
    result = subprocess.run([str(BIN / args[0]), *args[1:]], capture_output=True, text=True, timeout=300,
                            check=False, input=stdin, env={**os.environ, "KUBECONFIG": str(KUBECONFIG)})
    if check and result.returncode != 0:
        raise DemoError(f"{' '.join(args)} failed: {result.stderr.strip()}")
    return result.stdout


def kubectl(*args: str, show: bool = True, check: bool = True) -> str:
    return command("kubectl", *args, show=show, check=check)


class Traffic:
    """Requests to one Service from the host, all along; the windows of the last seconds are kept."""

    def __init__(self, service: str, url: str | None = None, headers: dict[str, str] | None = None) -> None:
        self.service, self.url, self.headers = service, url, headers
        self.recent: deque[Window] = deque()
        self.total = Tally()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        url = self.url or service_url(self.service, "/healthz")
        self._thread = threading.Thread(target=self._run, args=(url,), daemon=True)
        self._thread.start()

    def _run(self, url: str) -> None:
        for window in HostMeter().stream(url, stop=self._stop, window=0.25, concurrency=2, headers=self.headers):
            self.recent.append(window)
            self.total = self.total + window.tally
            while self.recent and self.recent[0].end < time.time() - RECENT_SECONDS:
                self.recent.popleft()

    def last(self) -> Tally:
        return sum((w.tally for w in list(self.recent)), Tally())

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)


class Orders:
    """Orders placed all along for one user, each with its own Idempotency-Key, sent again with that
    key when no answer comes (as a careful client does); their statuses, counted."""

    def __init__(self, url: str, user_id: int, every: float = 0.25) -> None:
        self.url, self.user_id, self.every = url, user_id, every
        self.ids: dict[str, int] = {}
        self.statuses: Counter[str] = Counter()
        self.resent = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self.every):
            self.place(f"demo-{uuid.uuid4()}")

    def place(self, key: str) -> None:
        for _ in range(10):
            try:
                code, order = HostMeter().call("POST", self.url, body={"userId": self.user_id, "item": "book"},
                                               headers={"Idempotency-Key": key})
            except OSError:
                code, order = 0, None
            if code in (201, 202, 422) and isinstance(order, dict):
                self.ids[key] = order["id"]
                self.statuses[order["status"]] += 1
                return
            self.resent += 1
            time.sleep(0.5)
        self.statuses["UNANSWERED"] += 1

    def line(self) -> str:
        counts = ", ".join(f"{n:,} {status}" for status, n in sorted(self.statuses.items())) or "none yet"
        return f"  orders: {sum(self.statuses.values()):,} placed ({counts}); {self.resent} sent again"

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=30)


class Screen:
    """Where the demo writes: a rich live view on a terminal, plain lines otherwise."""

    def __init__(self) -> None:
        self.console = Console()
        self.lines: list[Text] = []
        self.live: Live | None = None
        self.traffic: dict[str, Traffic] = {}
        self.orders: Orders | None = None


SCREEN = Screen()


def say(message: str, style: str = "") -> None:
    if SCREEN.live is None:
        print(message, flush=True)
    else:
        SCREEN.lines.append(Text(message, style=style))
        del SCREEN.lines[:-8]
        SCREEN.live.update(view())


def snapshot() -> dict[str, Any]:
    out = kubectl("get", "ms", "-n", NS, "-o", "json", show=False, check=False) or '{"items": []}'
    return {m["metadata"]["name"]: m for m in json.loads(out)["items"]}


def track_table(obj: dict[str, Any]) -> Table:
    name, status = obj["metadata"]["name"], obj.get("status") or {}
    failover = status.get("failover") or {}
    recent = SCREEN.traffic[name].last() if name in SCREEN.traffic else Tally()
    total = SCREEN.traffic[name].total if name in SCREEN.traffic else Tally()
    moved_to = failover.get("activeTrack") or failover.get("failedTracks")
    title = (f"{name}  phase={status.get('phase', '-')}  "
             f"failover={'ACTIVE → ' + str(moved_to) if failover.get('active') else 'no'}"
             f"  requests {total.sent:,} ({total.failed:,} failed)")
    table = Table(title=title, title_justify="left")
    for column in ("track", "ready/desired", "weight", "effective", "served (last 3 s)", "errors (last 3 s)"):
        table.add_column(column, justify="left" if column == "track" else "right")
    shares = recent.shares()
    for t in status.get("tracks") or []:
        table.add_row(t["name"], f"{t['readyReplicas']}/{t['replicas']}", f"{t['weight']}%", f"{t['effectiveWeight']}%",
                      f"{shares.get(t['name'], 0.0):.1f}%", "")
    errors = ", ".join(f"{kind} {n}" for kind, n in recent.errors.items()) or "0"
    table.add_row("", "", "", "", f"{recent.sent} requests", errors)
    return table


def view() -> Group:
    orders = [Text(SCREEN.orders.line())] if SCREEN.orders else []
    return Group(*[track_table(m) for _, m in sorted(snapshot().items())], *orders, *SCREEN.lines)


def plain_status() -> None:
    for name, obj in sorted(snapshot().items()):
        st = obj.get("status") or {}
        tracks = " ".join(f"{t['name']}={t['readyReplicas']}/{t['replicas']}" for t in st.get("tracks") or [])
        line = f"  {name}: phase={st.get('phase')} weights={st.get('weights')} replicas {tracks} " \
               f"failover={(st.get('failover') or {}).get('active', False)}"
        if name in SCREEN.traffic:
            recent = SCREEN.traffic[name].last()
            served = " ".join(f"{t}={s:.1f}%" for t, s in sorted(recent.shares().items()))
            line += f" | served {served} of {recent.sent} requests in the last {RECENT_SECONDS:.0f} s, " \
                    f"{recent.failed} failed"
        print(line, flush=True)
    if SCREEN.orders is not None:
        print(SCREEN.orders.line(), flush=True)


def wait(description: str, done: Callable[[dict[str, Any]], bool], timeout: float = STEP_TIMEOUT,
         settle: float = 0.0) -> None:
    """Until ``done`` holds for the Microservices; then ``settle`` seconds more, so the shares show it."""
    say(f"  … waiting until {description}")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if SCREEN.live is not None:
            SCREEN.live.update(view())
        if done(snapshot()):
            end = time.monotonic() + settle
            while time.monotonic() < end:
                if SCREEN.live is not None:
                    SCREEN.live.update(view())
                time.sleep(0.25)
            if SCREEN.live is None:
                plain_status()
            return
        time.sleep(0.5)
    raise DemoError(f"timed out after {timeout:.0f}s waiting until {description}")


def replicas(snap: dict[str, Any], name: str) -> dict[str, tuple[int, int]]:
    st = (snap.get(name) or {}).get("status") or {}
    return {t["name"]: (t["replicas"], t["readyReplicas"]) for t in st.get("tracks") or []}


def ready_as(name: str, want: dict[str, int]) -> Callable[[dict[str, Any]], bool]:
    def check(snap: dict[str, Any]) -> bool:
        obj = snap.get(name) or {}
        st = obj.get("status") or {}
        return replicas(snap, name) == {t: (n, n) for t, n in want.items()} and st.get("phase") == "Ready" \
            and st.get("observedGeneration") == obj["metadata"]["generation"]
    return check


def failed_over(active: bool) -> Callable[[dict[str, Any]], bool]:
    def check(snap: dict[str, Any]) -> bool:
        st = (snap.get("order") or {}).get("status") or {}
        if active:
            return bool((st.get("failover") or {}).get("active")) and replicas(snap, "order").get("standby") == (4, 4)
        return ready_as("order", {"primary": 4, "standby": 0})(snap)
    return check


def served_only(service: str, track: str) -> Callable[[dict[str, Any]], bool]:
    """Every request of the last seconds to ``service`` was served by ``track``: the move is complete."""
    def check(_: dict[str, Any]) -> bool:
        recent = SCREEN.traffic[service].last()
        return recent.sent > 0 and recent.shares() == {track: 100.0}
    return check


def set_weights(v1: int, v2: int) -> None:
    patch = [{"op": "replace", "path": "/spec/tracks/0/weight", "value": v1},
             {"op": "replace", "path": "/spec/tracks/1/weight", "value": v2}]
    kubectl("patch", "ms", "user", "-n", NS, "--type=json", "-p", json.dumps(patch, separators=(",", ":")))


def fault(track: str, state: str) -> None:
    """The samples' fault switch on every pod of order's ``track``, by pod IP, as a user would curl it."""
    ips = kubectl("get", "pods", "-n", NS, "-l", f"microservice-operator.io/microservice=order,"
                  f"microservice-operator.io/track={track}", "-o", "jsonpath={.items[*].status.podIP}",
                  show=False).split()
    meter = HostMeter()
    for ip in ips:
        say(f"$ curl -X POST http://{ip}:8080/fault/{state}", style="bold cyan")
        code, body = meter.call("POST", f"http://{ip}:8080/fault/{state}")
        if code != 200:
            raise DemoError(f"the fault switch of {ip} answered {code}: {body}")


def install() -> None:
    say("1. The CRDs and the operator, installed with its Helm chart (its image runs on the real node)")
    kubectl("apply", "--server-side", "-f", str(ROOT / "charts" / "microservice-operator" / "crds"))
    command("kubectl", "create", "namespace", RELEASE_NS, check=False)
    kubectl("label", "namespace", RELEASE_NS, "--overwrite", "pod-security.kubernetes.io/enforce=restricted")
    command("helm", "upgrade", "--install", RELEASE, str(ROOT / "charts" / "microservice-operator"),
            "--namespace", RELEASE_NS, "--wait", "--timeout", "3m")
    wait_namespace_usable()
    say("2. The sample services, each on its own PostgreSQL (user-db, order-db, on provisioned volumes):"
        " user split 90/10 over v1/v2; order with a primary and a cold standby")
    kubectl("apply", "--server-side", "-f", str(ROOT / "samples" / "manifests" / "namespace.yaml"))
    kubectl("apply", "--server-side", "--force-conflicts", "-f", str(ROOT / "samples" / "manifests"))
    if ROUTING == "GatewayAPI":
        route_user_through_the_gateway()
    wait("user runs 9/1 and order 4/0, all ready", lambda s: ready_as("user", {"v1": 9, "v2": 1})(s)
         and ready_as("order", {"primary": 4, "standby": 0})(s))


def gateway_url(path: str) -> str:
    env = dict(line.split("=", 1) for line in (ROOT / "hack" / "cluster" / "node" / "node.env").read_text()
               .splitlines() if "=" in line and not line.startswith("#"))
    return f"http://127.0.0.1:{env['GATEWAY_PORT']}{path}"


def route_user_through_the_gateway() -> None:
    """user's weights in an HTTPRoute on Gateway gateway-system/local; waits until the Gateway took it."""
    routing = {"strategy": "GatewayAPI", "gateway": {
        "parentRefs": [{"name": "local", "namespace": "gateway-system"}], "hostnames": [USER_HOST]}}
    kubectl("patch", "ms", "user", "-n", NS, "--type=merge", "-p",
            json.dumps({"spec": {"routing": routing}}, separators=(",", ":")))
    wait("the Gateway accepted user's HTTPRoute", lambda s: any(
        c["type"] == "RouteAccepted" and c["status"] == "True"
        for c in ((s.get("user") or {}).get("status") or {}).get("conditions") or []))


def wait_namespace_usable() -> None:
    """A namespace still being deleted (say, by a previous run) refuses new objects: wait it out."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        out = kubectl("get", "namespace", NS, "-o", "jsonpath={.status.phase}", show=False, check=False)
        if out != "Terminating":
            return
        say(f"  … namespace {NS} is still being deleted; waiting")
        time.sleep(2)
    raise DemoError(f"namespace {NS} stayed Terminating for 120s")


def story() -> None:
    install()
    say("3. Requests to both services from now on: a new connection each, counted by X-Served-By")
    for service in ("user", "order"):
        SCREEN.traffic[service] = Traffic(service)
    if ROUTING == "GatewayAPI":
        say(f"  user's requests go through the Gateway: {gateway_url('/healthz')} with Host: {USER_HOST}")
        SCREEN.traffic["user"] = Traffic("user", gateway_url("/healthz"), {"Host": USER_HOST})
    for traffic in SCREEN.traffic.values():
        traffic.start()
    start_orders()
    wait("the first requests are counted", lambda s: all(t.last().sent for t in SCREEN.traffic.values()),
         settle=RECENT_SECONDS)
    say("4. Shift user's traffic: 90/10 → 50/50 → 0/100")
    set_weights(50, 50)
    wait("user runs 5/5", ready_as("user", {"v1": 5, "v2": 5}), settle=RECENT_SECONDS)
    set_weights(0, 100)
    wait("user runs 0/10", ready_as("user", {"v1": 0, "v2": 10}))
    wait("every request of user is v2's", served_only("user", "v2"))
    say("5. Scale user through the scale subresource; the weights are kept")
    kubectl("scale", "ms/user", "-n", NS, "--replicas=4")
    wait("user runs 0/4", ready_as("user", {"v1": 0, "v2": 4}), settle=RECENT_SECONDS)
    say("6. order's primary fails its readiness probe (the samples' fault switch, on every primary pod)")
    fault("primary", "unready")
    wait("order fails over to its standby (probe failures, then unhealthyAfterSeconds: 5)", failed_over(True))
    wait("every request of order is the standby's", served_only("order", "standby"))
    say("7. The primary recovers")
    fault("primary", "ready")
    wait("traffic fails back (after failbackAfterSeconds: 10)", failed_over(False))
    wait("every request of order is the primary's", served_only("order", "primary"))
    say("8. Every order is settled, and the user's balance adds up")
    check_orders()


def service_url(service: str, path: str) -> str:
    spec = json.loads(kubectl("get", "service", service, "-n", NS, "-o", "json", show=False))["spec"]
    return f"http://{spec['clusterIP']}:{spec['ports'][0]['port']}{path}"


START_BALANCE = 10_000_000  # cents


def start_orders() -> None:
    """A user with a balance, then orders for it all along (4 a second), through order's Service."""
    users = service_url("user", "/users")
    say(f"$ curl -X POST {users} -d '{{\"name\": \"Ada Lovelace\", ..., \"balance\": {START_BALANCE}}}'",
        style="bold cyan")
    code, user = HostMeter().call("POST", users, body={"name": "Ada Lovelace", "email": "ada@example.com",
                                                       "balance": START_BALANCE})
    if code != 201:
        raise DemoError(f"user-service answered {code} to a new user: {user}")
    SCREEN.orders = Orders(service_url("order", "/orders"), user["id"])
    SCREEN.orders.start()


def check_orders() -> None:
    """Stops the orders; waits until none is PENDING (the recovery loop); the balance must add up."""
    orders = SCREEN.orders
    assert orders is not None
    orders.stop()
    url = service_url("order", "/orders")
    deadline = time.monotonic() + STEP_TIMEOUT
    while True:
        final = Counter(HostMeter().call("GET", f"{url}/{i}")[1].get("status") for i in orders.ids.values())
        if not final["PENDING"] or time.monotonic() > deadline:
            break
        time.sleep(1)
    code, user = HostMeter().call("GET", f"{service_url('user', '/users')}/{orders.user_id}")
    expected = START_BALANCE - 100 * final["CONFIRMED"]
    say(f"  orders: {len(orders.ids):,} placed, {final['CONFIRMED']:,} CONFIRMED, {final['PENDING']} PENDING, "
        f"{final['REJECTED']} REJECTED; balance {user.get('balance'):,} = {START_BALANCE:,} - "
        f"{final['CONFIRMED']:,} × 100: {'yes' if user.get('balance') == expected else 'NO'}")
    if code != 200 or final["PENDING"] or user.get("balance") != expected or orders.statuses["UNANSWERED"]:
        raise DemoError(f"the orders do not add up: {dict(final)}, balance {user}, expected {expected}")


def summary() -> str:
    lines = [f"  {name}: {t.total.sent:,} requests, {t.total.failed:,} failed "
             f"({', '.join(f'{k} {n}' for k, n in t.total.errors.items()) or 'none'})"
             for name, t in SCREEN.traffic.items()]
    if SCREEN.orders is not None:
        lines.append(SCREEN.orders.line())
    return "\n".join(["Requests sent during the demo:", *lines])


def main() -> int:
    started = time.monotonic()
    try:
        if SCREEN.console.is_terminal:
            with Live(Group(), console=SCREEN.console, refresh_per_second=4) as live_view:
                SCREEN.live = live_view
                story()
        else:
            story()
    except DemoError as err:
        SCREEN.live = None
        print(f"demo: error: {err}\n(operator log: kubectl logs -n {RELEASE_NS} deploy/{RELEASE})", file=sys.stderr)
        return 1
    finally:
        for traffic in SCREEN.traffic.values():
            traffic.stop()
        if SCREEN.orders is not None:
            SCREEN.orders.stop()
    SCREEN.live = None
    print(f"\n{summary()}\n\nDemo finished in {time.monotonic() - started:.0f}s. The cluster, the operator and "
          f"the samples keep running:\n"
          f"  export KUBECONFIG={KUBECONFIG} PATH={BIN}:$PATH\n"
          f"  kubectl get ms -n {NS}\n  kubectl describe ms order -n {NS}\n"
          f"  kubectl logs -n {RELEASE_NS} deploy/{RELEASE}\n"
          f"Stop everything with: make cluster-down")
    return 0


if __name__ == "__main__":
    sys.exit(main())
