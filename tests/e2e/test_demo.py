"""make demo's script on the real node, without a terminal: plain lines, every command printed, real
requests counted, orders settled on the samples' databases, exit 0."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest

from tests.support import kube
from tests.support.kube import wait_for

pytestmark = [pytest.mark.cluster, pytest.mark.local_cluster]


def _served(out: str, service: str) -> list[dict[str, float]]:
    """The measured shares of every plain status line of ``service``."""
    lines = re.findall(rf"^  {service}: .*\| served (.*) of (\d+) requests", out, re.M)
    return [{t: float(s.rstrip("%")) for t, s in (p.split("=") for p in served.split())} for served, _ in lines]


@pytest.mark.timeout(600)
@pytest.mark.parametrize("routing", ["Replicas", "GatewayAPI"])
def test_demo_plays_the_story_with_real_requests(chart_operator: str, routing: str) -> None:
    log = kube.ROOT / ".cluster" / "logs" / f"demo-test-{routing}.log"  # kept, to read even after a timeout
    wait_for(lambda: kube.kubectl("get", "namespace", "shop", check=False).returncode != 0, timeout=120,
             what="namespace shop of an earlier run to go")
    try:
        with log.open("w") as out_file:
            result = subprocess.run([sys.executable, str(kube.ROOT / "hack" / "demo.py")], stdout=out_file,
                                    stderr=subprocess.PIPE, text=True, timeout=540, check=False,
                                    stdin=subprocess.DEVNULL, env={**os.environ, "ROUTING": routing})
    finally:
        kube.kubectl("delete", "namespace", "shop", "--wait=false", check=False)
    out = log.read_text()
    assert result.returncode == 0, out[-3000:] + result.stderr[-3000:]
    for command in ("$ helm upgrade --install microservice-operator", "$ kubectl patch ms user -n shop --type=json",
                    "$ kubectl scale ms/user -n shop --replicas=4", "/fault/unready", "/fault/ready"):
        assert command in out
    assert "v1=0/0 v2=4/4" in out and "phase=FailedOver" in out and "failover=True" in out
    if routing == "GatewayAPI":  # user's requests went through the Gateway, by its HTTPRoute
        assert "$ kubectl patch ms user -n shop --type=merge" in out and "go through the Gateway" in out
    user = _served(out, "user")
    assert user[-1].get("v2") == 100.0  # after 0/100 and the scale, every request is v2's
    assert any(abs(shares.get("v1", 0) - 50) <= 15 for shares in user)  # at 50/50, over a few seconds
    order = _served(out, "order")
    assert any(shares.get("standby") == 100.0 for shares in order)  # failed over: the standby serves
    assert order[-1].get("primary") == 100.0  # failed back
    assert re.search(r"user: [\d,]+ requests, [\d,]+ failed", out)
    # orders were placed through the failover and back, on the databases; all settled, the balance adds up
    settled = re.search(r"orders: ([\d,]+) placed, ([\d,]+) CONFIRMED, 0 PENDING, 0 REJECTED; balance .*: yes", out)
    assert settled and int(settled[2].replace(",", "")) == int(settled[1].replace(",", "")) > 50, out[-2000:]
    assert "\x1b[" not in out  # no terminal control sequences in a pipe
    assert "make cluster-down" in out
    wait_for(lambda: kube.kubectl("get", "namespace", "shop", check=False).returncode != 0, timeout=120,
             what="namespace shop to go")
