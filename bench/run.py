"""make bench: P1–P5 on the local cluster, as ratios against the raw-apply floor of the same run,
P6–P8 on its real node with real requests (split accuracy, end-to-end failover, the two strategies),
and P9 the takeover of a standby replica after the leader's kill -9.

    python -m bench.run [--size full|smoke] [--no-readme]

Writes bench/results/latest.json and latest.md, and (full size) the README's benchmark table.
Benchmarks are not tests: nothing here asserts a timing; the targets are reported, met or not.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import subprocess
import sys
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from kubernetes import client, config
from microservice_operator.k8s import Kube, load_client

from tests.conftest import OperatorProcess
from tests.support import kube

from . import figures as f
from . import takeover, traffic

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
AUDIT_LOG = ROOT / ".cluster" / "kwok" / "clusters" / "microservice-operator" / "logs" / "audit.log"


@dataclass(frozen=True)
class Size:
    p1: int
    p3: int
    idle_seconds: float
    p5: int
    p6_requests: int
    p7_trials: int
    p9: int


SIZES = {"full": Size(p1=100, p3=1000, idle_seconds=60, p5=20, p6_requests=10_000, p7_trials=3, p9=200),
         "smoke": Size(p1=3, p3=10, idle_seconds=3, p5=2, p6_requests=500, p7_trials=1, p9=8)}
TARGETS = {"P1 p50": 1.5, "P1 p99": 3.0, "P2 p50": 1.5, "P3": 2.0, "P3 RSS MiB": 150, "P4 writes": 0,
           "P4 CPU %": 2.0, "P5 p99 s": 1.0, "P6 points": 1.0, "P7 vs probe bound": 1.0, "P7 failed %": 5.0,
           "P8 Gateway points": 0.5, "P9 takeover vs Lease bound": 1.25}


def progress(message: str) -> None:
    print(f"[bench {datetime.now(UTC):%H:%M:%S}] {message}", file=sys.stderr, flush=True)


def new_bench() -> f.Bench:
    """Clients for the local cluster, whatever the caller's shell says: one watch per namespace, 8 writers."""
    os.environ["KUBECONFIG"] = str(kube.KUBECONFIG)
    cfg = client.Configuration()
    config.load_kube_config(config_file=str(kube.KUBECONFIG), client_configuration=cfg)
    cfg.connection_pool_maxsize = 16
    return f.Bench(client.ApiClient(cfg), Kube(load_client(pool_size=16)), f"bench-{uuid.uuid4().hex[:4]}")


def measure(size: Size, operator: OperatorProcess, bench: f.Bench) -> dict[str, Any]:
    """Runs P1–P5; the caller cleans ``bench`` up (after reporting: deleting thousands takes minutes)."""
    assert operator.proc is not None
    progress(f"P1: {size.p1} objects, one after another")
    op1, fl1, names = f.p1_create(bench, size.p1)
    progress(f"P2: {len(names)} weight edits")
    op2, fl2, par2 = f.p2_weight_edit(bench, names)
    progress(f"P3: {size.p3} objects at once")
    op3, fl3 = f.p3_many(bench, size.p3, concurrency=8)
    rss = f.peak_rss_mib(operator.proc.pid)
    progress(f"P4: {size.idle_seconds:.0f} s idle")
    writes, cpu, write_kinds = f.p4_idle(AUDIT_LOG, operator.proc.pid, size.idle_seconds)
    progress(f"P5: {size.p5} failovers")
    p5 = f.p5_failover(bench, size.p5, kube.set_pods_ready)
    real = traffic.real_namespace(bench.prefix)
    bench.extra_namespaces.append(real)
    progress(f"P6: split accuracy over {size.p6_requests} requests on the real node")
    p6 = traffic.p6_split(real, size.p6_requests)
    progress(f"P7: {size.p7_trials} failovers under load on the real node")
    p7 = traffic.p7_failover(real, size.p7_trials)
    progress(f"P8: both strategies, {size.p6_requests} requests each, on the real node")
    p8 = traffic.p8_strategies(real, size.p6_requests)
    operator.stop()  # P9 runs its own two replicas
    ha, _ = bench.namespace("ha")
    progress(f"P9: {size.p9} objects, two replicas, the leader killed mid-burst")
    p9 = takeover.p9_takeover(ha, size.p9)
    return {
        "P1": {"operator": f.summary(op1), "floor": f.summary(fl1)},
        "P2": {"operator": f.summary(op2), "floor": f.summary(fl2), "parallel_floor": f.summary(par2)},
        "P3": {"operator_seconds": op3, "floor_seconds": fl3, "objects": size.p3, "peak_rss_mib": rss},
        "P4": {"seconds": size.idle_seconds, "writes": writes, "write_kinds": write_kinds, "cpu_percent": cpu},
        "P5": {"minus_dwell": f.summary(p5)},
        "P6": p6,
        "P7": p7,
        "P8": p8,
        "P9": p9,
    }


def ratios(raw: dict[str, Any]) -> dict[str, float]:
    return {
        "P1 p50": raw["P1"]["operator"]["p50"] / raw["P1"]["floor"]["p50"],
        "P1 p99": raw["P1"]["operator"]["p99"] / raw["P1"]["floor"]["p99"],
        "P2 p50": raw["P2"]["operator"]["p50"] / raw["P2"]["floor"]["p50"],
        "P2 p50 vs parallel floor": raw["P2"]["operator"]["p50"] / raw["P2"]["parallel_floor"]["p50"],
        "P3": raw["P3"]["operator_seconds"] / raw["P3"]["floor_seconds"],
        "P3 RSS MiB": raw["P3"]["peak_rss_mib"],
        "P4 writes": raw["P4"]["writes"],
        "P4 CPU %": raw["P4"]["cpu_percent"],
        "P5 p99 s": raw["P5"]["minus_dwell"]["p99"],
        "P6 points": raw["P6"]["max_abs_delta_points"],
        "P7 vs probe bound": max(raw["P7"]["seconds"]) / raw["P7"]["probe_bound_seconds"],
        "P7 failed %": 100 * raw["P7"]["failed"] / max(raw["P7"]["sent"], 1),
        "P8 Gateway points": max(v["points_off"] for k, v in raw["P8"]["GatewayAPI"].items()
                                 if k != "edit_to_split_seconds"),
        "P8 Gateway edit vs Replicas": (raw["P8"]["GatewayAPI"]["edit_to_split_seconds"]
                                        / raw["P8"]["Replicas"]["edit_to_split_seconds"]),
        "P9 takeover vs Lease bound": raw["P9"]["takeover_seconds"] / raw["P9"]["lease_bound_seconds"],
    }


def table(result: dict[str, Any]) -> str:
    raw, measured = result["raw"], result["ratios"]
    ms = 1000.0
    rows = [
        ("P1 create → converged, p50", f"{raw['P1']['operator']['p50'] * ms:.0f} ms",
         f"{raw['P1']['floor']['p50'] * ms:.0f} ms", "P1 p50", "≤ 1.5×"),
        ("P1 create → converged, p99", f"{raw['P1']['operator']['p99'] * ms:.0f} ms",
         f"{raw['P1']['floor']['p99'] * ms:.0f} ms", "P1 p99", "≤ 3×"),
        ("P2 weight edit → replicas, p50", f"{raw['P2']['operator']['p50'] * ms:.0f} ms",
         f"{raw['P2']['floor']['p50'] * ms:.0f} ms", "P2 p50", "≤ 1.5×"),
        ("P2 … against a floor applying both Deployments at once (information)",
         f"{raw['P2']['operator']['p50'] * ms:.0f} ms", f"{raw['P2']['parallel_floor']['p50'] * ms:.0f} ms",
         "P2 p50 vs parallel floor", ""),
        (f"P3 {raw['P3']['objects']} objects at once → all converged", f"{raw['P3']['operator_seconds']:.1f} s",
         f"{raw['P3']['floor_seconds']:.1f} s", "P3", "≤ 2×"),
        ("P3 operator peak RSS", f"{raw['P3']['peak_rss_mib']:.0f} MiB", "—", "P3 RSS MiB", "≤ 150 MiB"),
        (f"P4 {raw['P4']['seconds']:.0f} s idle: operator writes", str(raw["P4"]["writes"]), "—", "P4 writes", "0"),
        ("P4 idle: operator CPU", f"{raw['P4']['cpu_percent']:.2f} %", "—", "P4 CPU %", "< 2 %"),
        ("P5 unready → failover written, minus dwell, p50", f"{raw['P5']['minus_dwell']['p50'] * ms:.0f} ms",
         "—", None, ""),
        ("P5 … p99", f"{raw['P5']['minus_dwell']['p99'] * ms:.0f} ms", "—", "P5 p99 s", "≤ 1 s"),
        (f"P6 split 90/10, {raw['P6']['requests']:,} real requests: max abs(measured − effective)",
         " / ".join(f"{t} {v['measured']:.2f} %" for t, v in raw["P6"]["shares"].items()),
         " / ".join(f"{t} {v['effective']} %" for t, v in raw["P6"]["shares"].items()), "P6 points", "≤ 1 point"),
        (f"P7 fault → 99 % served by the standby, worst of {raw['P7']['trials']} "
         f"(probe {raw['P7']['probe_period_seconds']} s × {raw['P7']['probe_failure_threshold']}, "
         f"unhealthyAfterSeconds {raw['P7']['unhealthy_after_seconds']})",
         " / ".join(f"{s:.1f} s" for s in raw["P7"]["seconds"]), f"{raw['P7']['probe_bound_seconds']} s probe bound",
         "P7 vs probe bound", "≤ 1×"),
        ("P7 failed requests during the failovers", f"{raw['P7']['failed']} of {raw['P7']['sent']}", "—",
         "P7 failed %", "≤ 5 %"),
        *p8_rows(raw["P8"]),
        (f"P9 leader kill -9 mid-burst of {raw['P9']['objects']} → standby's first write "
         f"(all converged {raw['P9']['converged_after_kill_seconds']:.1f} s after the kill; "
         f"{raw['P9']['writes_by_old_leader_after_takeover']} writes overlapped)",
         f"{raw['P9']['takeover_seconds']:.1f} s", f"{raw['P9']['lease_bound_seconds']:.0f} s Lease bound",
         "P9 takeover vs Lease bound", "≤ 1.25× (15 s)"),
    ]
    lines = ["| Figure | Operator | Floor | Ratio / value | Target | Met |", "|---|---|---|---|---|---|"]
    for label, op, floor, key, target in rows:
        ratio_keys = ("P1 p50", "P1 p99", "P2 p50", "P2 p50 vs parallel floor", "P3", "P7 vs probe bound",
                      "P8 Gateway edit vs Replicas", "P9 takeover vs Lease bound")
        value = "" if key is None else (f"{measured[key]:.2f}×" if key in ratio_keys else f"{measured[key]:.2f}")
        met = "" if key not in result["met"] else ("yes" if result["met"][key] else "**no**")
        lines.append(f"| {label} | {op} | {floor} | {value} | {target} | {met} |")
    return "\n".join(lines)


def p8_rows(p8: dict[str, Any]) -> list[tuple[str, str, str, str | None, str]]:
    """P8's rows: the Operator column is GatewayAPI (through Traefik), the Floor column Replicas."""
    gateway, replicas = p8["GatewayAPI"], p8["Replicas"]
    rows: list[tuple[str, str, str, str | None, str]] = []
    for split in (k for k in gateway if k != "edit_to_split_seconds"):
        last = split.startswith("90/10")
        rows.append((f"P8 {split}, {p8['requests']:,} requests: abs(measured − configured), GatewayAPI | Replicas",
                     f"{gateway[split]['points_off']:.2f} points ({gateway[split]['failed']} failed)",
                     f"{replicas[split]['points_off']:.2f} points ({replicas[split]['failed']} failed)",
                     "P8 Gateway points" if last else None, "≤ 0.5 point, both splits" if last else ""))
    rows.append(("P8 weight edit 90/10 → 50/50 → served 50/50, GatewayAPI | Replicas",
                 f"{gateway['edit_to_split_seconds']:.1f} s", f"{replicas['edit_to_split_seconds']:.1f} s",
                 "P8 Gateway edit vs Replicas", ""))
    return rows


def met(measured: dict[str, float]) -> dict[str, bool]:
    return {k: (measured[k] == 0 if k == "P4 writes" else measured[k] < TARGETS[k] if k == "P4 CPU %"
                else measured[k] <= TARGETS[k]) for k in TARGETS}


def machine() -> dict[str, Any]:
    versions = (ROOT / "hack" / "cluster" / "versions.env").read_text()
    return {"kind": "polyglot", "cores": os.cpu_count(), "python": platform.python_version(),
            "kernel": platform.release(),
            "pins": dict(re.findall(r"^(\w+)=(\S+)$", versions, re.M))}


def update_readme(markdown: str) -> None:
    readme = ROOT / "README.md"
    text = readme.read_text()
    block = f"<!-- bench:start -->\n{markdown}\n<!-- bench:end -->"
    readme.write_text(re.sub(r"<!-- bench:start -->.*<!-- bench:end -->", lambda _: block, text, flags=re.S))


def main() -> int:
    parser = argparse.ArgumentParser(prog="bench")
    parser.add_argument("--size", choices=sorted(SIZES), default="full")
    parser.add_argument("--no-readme", action="store_true", help="do not update the README's table")
    args = parser.parse_args()
    subprocess.run([str(ROOT / "hack" / "cluster" / "up.sh")], check=True)
    kube.kubectl("apply", "--server-side", "--force-conflicts", "-f", str(ROOT / "crds"))
    operator = OperatorProcess(extra_env={"MSO_LOG_LEVEL": "WARNING"}, log_name="operator-bench.log")
    operator.start()
    bench = new_bench()
    try:
        raw = measure(SIZES[args.size], operator, bench)
    except BaseException:
        operator.stop()
        bench.cleanup()
        raise
    operator.stop()
    measured = ratios(raw)
    result = {"date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"), "size": args.size, "machine": machine(),
              "ratios": measured, "targets": TARGETS, "met": met(measured), "raw": raw}
    RESULTS.mkdir(parents=True, exist_ok=True)
    name = "latest" if args.size == "full" else f"{args.size}"
    (RESULTS / f"{name}.json").write_text(json.dumps(result, indent=2) + "\n")
    markdown = (f"Measured {result['date']} on a `{result['machine']['kind']}` machine "
                f"({result['machine']['cores']} cores), size `{args.size}`:\n\n{table(result)}")
    (RESULTS / f"{name}.md").write_text(markdown + "\n")
    print(markdown)
    if args.size == "full" and not args.no_readme:
        update_readme(markdown)
    progress("deleting the benchmark's namespaces")
    bench.cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main())
