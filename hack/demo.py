"""make demo: the sample services on the local cluster, with weights, scaling, failover and failback.

Every change is a kubectl command, printed before it runs. On a terminal a live view (rich) shows
each track's replicas and weights, the failover state and the latest events; without one, plain
lines. The cluster and the operator are left running at the end.
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from rich.console import Console, Group
from rich.live import Live
from rich.table import Table
from rich.text import Text

ROOT = Path(__file__).resolve().parents[1]
STATE = ROOT / ".cluster"
KUBECONFIG = STATE / "kubeconfig"
KUBECTL = STATE / "bin" / "kubectl"
NS = "shop"
OPERATOR_PID = STATE / "operator.pid"
STEP_TIMEOUT = 60.0


class DemoError(Exception):
    pass


def kubectl(*args: str, show: bool = True, check: bool = True) -> str:
    """Runs kubectl on the local cluster; ``show`` prints the command first, as a user would type it."""
    if show:
        say(f"$ kubectl {shlex.join(args)}", style="bold cyan")
    result = subprocess.run([str(KUBECTL), "--kubeconfig", str(KUBECONFIG), *args], capture_output=True,
                            text=True, timeout=60, check=False)
    if check and result.returncode != 0:
        raise DemoError(f"kubectl {' '.join(args)} failed: {result.stderr.strip()}")
    return result.stdout


class Screen:
    """Where the demo writes: a rich live view on a terminal, plain lines otherwise."""

    console = Console()
    lines: list[Text] = []
    live: Live | None = None


def say(message: str, style: str = "") -> None:
    if Screen.live is None:
        print(message, flush=True)
    else:
        Screen.lines.append(Text(message, style=style))
        del Screen.lines[:-8]
        Screen.live.update(view())


def snapshot() -> dict[str, Any]:
    ms = json.loads(kubectl("get", "ms", "-n", NS, "-o", "json", show=False, check=False) or '{"items": []}')
    events = json.loads(kubectl("get", "events", "-n", NS, "-o", "json", show=False, check=False)
                        or '{"items": []}')
    recent = sorted((e for e in events["items"] if e["involvedObject"]["kind"] == "Microservice"),
                    key=lambda e: e.get("lastTimestamp") or "")[-5:]
    return {"ms": {m["metadata"]["name"]: m for m in ms["items"]}, "events": recent}


def track_table(obj: dict[str, Any]) -> Table:
    status = obj.get("status") or {}
    failover = status.get("failover") or {}
    title = f"{obj['metadata']['name']}  phase={status.get('phase', '-')}  " \
            f"failover={'ACTIVE → ' + str(failover.get('activeTrack')) if failover.get('active') else 'no'}"
    table = Table(title=title, title_justify="left")
    for column in ("track", "desired", "ready", "weight", "routing", "effective", "healthy"):
        table.add_column(column, justify="right" if column != "track" else "left")
    for t in status.get("tracks") or []:
        table.add_row(t["name"], str(t["replicas"]), str(t["readyReplicas"]), str(t["weight"]),
                      str(t["routingWeight"]), f"{t['effectiveWeight']}%", str(t.get("healthy", "-")))
    return table


def view() -> Group:
    snap = snapshot()
    events = Table(title="last events", title_justify="left", show_header=False)
    for e in snap["events"]:
        events.add_row(e["type"], e["involvedObject"]["name"], e["reason"], e["message"][:70])
    return Group(*[track_table(m) for _, m in sorted(snap["ms"].items())], events, *Screen.lines)


def plain_status() -> None:
    for name, obj in sorted(snapshot()["ms"].items()):
        st = obj.get("status") or {}
        tracks = " ".join(f"{t['name']}={t['readyReplicas']}/{t['replicas']}" for t in st.get("tracks") or [])
        print(f"  {name}: phase={st.get('phase')} weights={st.get('weights')} replicas {tracks} "
              f"failover={(st.get('failover') or {}).get('active', False)}", flush=True)


def wait(description: str, done: Callable[[dict[str, Any]], bool], timeout: float = STEP_TIMEOUT) -> None:
    say(f"  … waiting until {description}")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if Screen.live is not None:
            Screen.live.update(view())
        if done(snapshot()):
            if Screen.live is None:
                plain_status()
            return
        time.sleep(0.5)
    raise DemoError(f"timed out after {timeout:.0f}s waiting until {description}")


def replicas(snap: dict[str, Any], name: str) -> dict[str, tuple[int, int]]:
    st = (snap["ms"].get(name) or {}).get("status") or {}
    return {t["name"]: (t["replicas"], t["readyReplicas"]) for t in st.get("tracks") or []}


def ready_as(name: str, want: dict[str, int]) -> Callable[[dict[str, Any]], bool]:
    return lambda snap: replicas(snap, name) == {t: (n, n) for t, n in want.items()}


def failed_over(active: bool) -> Callable[[dict[str, Any]], bool]:
    def check(snap: dict[str, Any]) -> bool:
        st = (snap["ms"].get("order") or {}).get("status") or {}
        return bool((st.get("failover") or {}).get("active")) is active and \
            (active or replicas(snap, "order").get("standby", (1, 1))[0] == 0)
    return check


def set_weights(v1: int, v2: int) -> None:
    patch = [{"op": "replace", "path": "/spec/tracks/0/weight", "value": v1},
             {"op": "replace", "path": "/spec/tracks/1/weight", "value": v2}]
    kubectl("patch", "ms", "user", "-n", NS, "--type=json", "-p", json.dumps(patch, separators=(",", ":")))


def set_primary_ready(ready: bool) -> None:
    value = "True" if ready else "False"
    patch = json.dumps({"status": {"conditions": [{"type": "Ready", "status": value},
                                                  {"type": "ContainersReady", "status": value}]}},
                       separators=(",", ":"))
    pods = kubectl("get", "pods", "-n", NS, "-l", "microservice-operator.io/track=primary", "-o", "name",
                   show=False).split()
    for pod in pods:
        kubectl("patch", pod, "-n", NS, "--subresource=status", "-p", patch)


def start_operator() -> None:
    if OPERATOR_PID.exists():
        try:
            os.kill(int(OPERATOR_PID.read_text()), 0)
            say(f"operator already running (pid {OPERATOR_PID.read_text().strip()})")
            return
        except (ProcessLookupError, ValueError):
            OPERATOR_PID.unlink()
    log = open(STATE / "logs" / "operator-demo.log", "ab")  # noqa: SIM115 (the operator keeps writing it)
    cmd = [str(ROOT / ".venv-operator" / "bin" / "microservice-operator"), "run", "--liveness",
           "http://127.0.0.1:8080/healthz", "--metrics-address", "127.0.0.1"]
    say(f"$ {shlex.join(['microservice-operator', *cmd[1:]])} &", style="bold cyan")
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
                            env={**os.environ, "KUBECONFIG": str(KUBECONFIG)})
    OPERATOR_PID.write_text(str(proc.pid))


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
    say("1. The CRDs, the operator, and the sample services (user 90/10 over v1/v2; order primary/standby)")
    kubectl("apply", "--server-side", "-f", str(ROOT / "crds"))
    kubectl("wait", "--for=condition=Established", "crd/microservices.microservice-operator.io")
    start_operator()
    wait_namespace_usable()
    kubectl("apply", "--server-side", "-f", str(ROOT / "samples" / "manifests" / "namespace.yaml"))
    kubectl("apply", "--server-side", "--force-conflicts", "-f", str(ROOT / "samples" / "manifests"))
    wait("user runs 9/1 and order 4/0, all ready", lambda s: ready_as("user", {"v1": 9, "v2": 1})(s)
         and ready_as("order", {"primary": 4, "standby": 0})(s))
    say("2. Shift user's traffic: 90/10 → 50/50 → 0/100")
    set_weights(50, 50)
    wait("user runs 5/5", ready_as("user", {"v1": 5, "v2": 5}))
    set_weights(0, 100)
    wait("user runs 0/10", ready_as("user", {"v1": 0, "v2": 10}))
    say("3. Scale user through the scale subresource; the weights are kept")
    kubectl("scale", "ms/user", "-n", NS, "--replicas=4")
    wait("user runs 0/4", ready_as("user", {"v1": 0, "v2": 4}))
    say("4. order's primary fails its readiness probe (simulated on kwok through the status subresource)")
    set_primary_ready(False)
    wait("order fails over to its standby (after unhealthyAfterSeconds: 5)", failed_over(True))
    say("5. The primary recovers")
    set_primary_ready(True)
    wait("traffic fails back (after failbackAfterSeconds: 10)", failed_over(False))


def main() -> int:
    started = time.monotonic()
    try:
        if Screen.console.is_terminal:
            with Live(Group(), console=Screen.console, refresh_per_second=4) as live_view:
                Screen.live = live_view
                story()
        else:
            story()
    except DemoError as err:
        Screen.live = None
        print(f"demo: error: {err}\n(operator log: {STATE / 'logs' / 'operator-demo.log'})", file=sys.stderr)
        return 1
    Screen.live = None
    print(f"\nDemo finished in {time.monotonic() - started:.0f}s. The cluster and the operator keep running:\n"
          f"  export KUBECONFIG={KUBECONFIG} PATH={STATE / 'bin'}:$PATH\n"
          f"  kubectl get ms -n {NS}\n  kubectl describe ms order -n {NS}\n"
          f"  kubectl get deploy,svc -n {NS}\n"
          f"Stop everything with: make cluster-down")
    return 0


if __name__ == "__main__":
    sys.exit(main())
