"""The watch caches heal: a child deleted while the API server was down (so no DELETED event ever
reaches the operator, whose watch must relist after the restart and an etcd compaction) is recreated;
no phantom stays in the cache."""

from __future__ import annotations

import base64
import json
import os
import signal
import subprocess
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import OperatorProcess
from tests.support import kube
from tests.support.kube import wait_for
from tests.support.ms import manifest, wait_converged

pytestmark = pytest.mark.cluster  # tests/integration always run on the local cluster: its API server is ours
CLUSTER = kube.STATE / "kwok" / "clusters" / "microservice-operator"
APISERVER_PID = CLUSTER / "pids" / "kube-apiserver.pid"


def _etcd(path: str, body: dict[str, Any]) -> dict[str, Any]:
    """etcd's v3 JSON gateway, on the client URL etcd was started with."""
    cmdline = (Path("/proc") / (CLUSTER / "pids" / "etcd.pid").read_text().strip() / "cmdline").read_bytes()
    url = next(a.split("=", 1)[1] for a in cmdline.decode().split("\0") if a.startswith("--listen-client-urls="))
    request = urllib.request.Request(f"{url}/v3/{path}", data=json.dumps(body).encode(), method="POST")
    with urllib.request.urlopen(request, timeout=10) as response:
        result: dict[str, Any] = json.loads(response.read())
        return result


def _key(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def _restart_apiserver_after(change: Any) -> None:
    """Kills the API server, runs ``change`` against etcd alone, starts the API server as it was."""
    pid = int(APISERVER_PID.read_text())
    proc = Path(f"/proc/{pid}")
    argv = proc.joinpath("cmdline").read_bytes().decode().rstrip("\0").split("\0")
    env = dict(item.split("=", 1) for item in proc.joinpath("environ").read_bytes().decode().split("\0") if "=" in item)
    cwd = os.readlink(proc / "cwd")
    os.kill(pid, signal.SIGKILL)  # a crash; a graceful stop takes over a minute of draining
    wait_for(lambda: not proc.exists() or "zombie" in proc.joinpath("status").read_text().lower(),
             timeout=30, what="the API server to stop")
    change()
    with open(CLUSTER / "logs" / "kube-apiserver.log", "ab") as log:
        started = subprocess.Popen(argv, env=env, cwd=cwd, stdout=log, stderr=subprocess.STDOUT,
                                   start_new_session=True)
    APISERVER_PID.write_text(str(started.pid))  # so that make cluster-down stops this one
    wait_for(lambda: kube.kubectl("get", "--raw", "/readyz", check=False).returncode == 0, timeout=120,
             interval=1.0, what="the restarted API server to be ready")


def test_a_child_deleted_while_the_api_server_was_down_is_recreated(
        namespace: str, operator_alive: OperatorProcess) -> None:
    kube.apply_obj(manifest(namespace))
    wait_converged(namespace)
    before = kube.apps().read_namespaced_deployment("user-v1", namespace).metadata.uid

    def delete_and_compact() -> None:
        deleted = _etcd("kv/deleterange", {"key": _key(f"/registry/deployments/{namespace}/user-v1")})
        assert deleted.get("deleted") == "1", deleted
        revision = int(_etcd("kv/range", {"key": _key("/registry/namespaces/default")})["header"]["revision"])
        _etcd("kv/compaction", {"revision": str(revision), "physical": True})  # every older revision is gone

    _restart_apiserver_after(delete_and_compact)

    def recreated() -> str | None:
        try:
            uid = kube.apps().read_namespaced_deployment("user-v1", namespace).metadata.uid
        except kube.ApiException:
            return None
        return uid if uid != before else None

    wait_for(recreated, timeout=90, interval=1.0, what="the deleted Deployment to be recreated")
    obj = wait_converged(namespace, timeout=90)
    assert obj["status"]["replicas"] == 10 and obj["status"]["readyReplicas"] == 10
    assert operator_alive.proc is not None and operator_alive.proc.poll() is None
    log = operator_alive.log_path.read_text()
    assert "cached Deployment(s) no longer exist" in log
