"""The benchmark harness at tiny size: it runs end to end and reports every figure (no timing asserted)."""

from __future__ import annotations

import math

import pytest

from bench.run import SIZES, measure, met, new_bench, ratios, table
from tests.conftest import OperatorProcess

pytestmark = pytest.mark.cluster


def test_bench_smoke_reports_every_figure(operator_alive: OperatorProcess) -> None:
    bench = new_bench()
    try:
        raw = measure(SIZES["smoke"], operator_alive, bench)
    finally:
        bench.cleanup()
    measured = ratios(raw)
    assert set(measured) == {"P1 p50", "P1 p99", "P2 p50", "P2 p50 vs parallel floor", "P3", "P3 RSS MiB",
                             "P4 writes", "P4 CPU %", "P5 p99 s", "P6 points", "P7 vs probe bound", "P7 failed %",
                             "P8 Gateway points", "P8 Gateway edit vs Replicas", "P9 takeover vs Lease bound"}
    assert all(math.isfinite(v) for v in measured.values())
    assert raw["P1"]["operator"]["n"] == SIZES["smoke"].p1 and raw["P5"]["minus_dwell"]["n"] == SIZES["smoke"].p5
    rendered = table({"raw": raw, "ratios": measured, "met": met(measured)})
    assert rendered.count("\n") == 18
    assert raw["P6"]["requests"] == SIZES["smoke"].p6_requests and raw["P7"]["trials"] == SIZES["smoke"].p7_trials
    assert raw["P8"]["requests"] == SIZES["smoke"].p6_requests
    assert set(raw["P8"]) == {"requests", "Replicas", "GatewayAPI"}
    assert raw["P9"]["objects"] == SIZES["smoke"].p9 and raw["P9"]["takeover_seconds"] > 0
