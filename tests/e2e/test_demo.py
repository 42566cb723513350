"""make demo's script, without a terminal: plain lines, every kubectl command printed, exit 0."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import pytest

from tests.conftest import OperatorProcess
from tests.support import kube
from tests.support.kube import wait_for

pytestmark = pytest.mark.cluster
PID = kube.STATE / "operator.pid"


def test_demo_plays_the_story_without_a_tty(cluster: object, operator: OperatorProcess) -> None:
    operator.stop()  # the demo starts its own operator
    try:
        result = subprocess.run([sys.executable, str(kube.ROOT / "hack" / "demo.py")], capture_output=True,
                                text=True, timeout=300, check=False, stdin=subprocess.DEVNULL)
    finally:
        if PID.exists():
            os.kill(int(PID.read_text()), signal.SIGTERM)
            PID.unlink()
        kube.kubectl("delete", "namespace", "shop", "--wait=false", check=False)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    out = result.stdout
    for command in ("$ kubectl apply --server-side -f", "$ kubectl patch ms user -n shop --type=json",
                    "$ kubectl scale ms/user -n shop --replicas=4", "--subresource=status"):
        assert command in out
    assert "v1=0/0 v2=4/4" in out and "phase=FailedOver" in out and "failover=True" in out
    assert "\x1b[" not in out  # no terminal control sequences in a pipe
    assert "make cluster-down" in out
    wait_for(lambda: kube.kubectl("get", "namespace", "shop", check=False).returncode != 0, timeout=90,
             what="namespace shop to go")
