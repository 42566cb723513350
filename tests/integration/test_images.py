"""The images: non-root, and really serving — the operator against the cluster, the samples together."""

from __future__ import annotations

import json
import shutil
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from email.message import Message
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

from tests.conftest import OperatorProcess, free_port
from tests.support import kube
from tests.support.images import OPERATOR_IMAGE, ORDER_IMAGE, USER_IMAGE, run
from tests.support.kube import wait_for
from tests.support.ms import manifest, replicas_by_track, wait_converged

pytestmark = pytest.mark.cluster


def test_operator_image_runs_as_non_root_and_answers_help(images: None) -> None:
    assert run("docker", "run", "--rm", "--entrypoint", "id", OPERATOR_IMAGE).stdout.startswith("uid=65532")
    out = run("docker", "run", "--rm", "--read-only", "--cap-drop=ALL", OPERATOR_IMAGE, "--help").stdout
    assert "run" in out and "render" in out


@pytest.fixture
def kubeconfig_file(tmp_path: Path) -> Path:
    """The local cluster's kubeconfig with credentials embedded, readable by the image's user."""
    path = tmp_path / "kubeconfig"
    path.write_text(json.dumps(kube.portable_kubeconfig()))
    path.chmod(0o644)
    tmp_path.chmod(0o755)
    return path


@pytest.fixture
def service_account_dir(tmp_path: Path, namespace: str) -> Iterator[Path]:
    """What the kubelet mounts at /var/run/secrets/kubernetes.io/serviceaccount, for a real account.

    The account is bound to cluster-admin: this proves the in-cluster login; the chart's
    least-privilege RBAC is proven by the Helm tests.
    """
    binding = f"mso-e2e-{namespace}"
    kube.kubectl("create", "serviceaccount", "mso", "-n", namespace)
    kube.kubectl("create", "clusterrolebinding", binding, "--clusterrole=cluster-admin",
                 f"--serviceaccount={namespace}:mso")
    folder = tmp_path / "serviceaccount"
    folder.mkdir()
    (folder / "token").write_text(kube.kubectl("create", "token", "mso", "-n", namespace).stdout.strip())
    (folder / "namespace").write_text(namespace)
    shutil.copy(kube.STATE / "kwok" / "clusters" / "microservice-operator" / "pki" / "ca.crt", folder / "ca.crt")
    for path in (tmp_path, folder, *folder.iterdir()):
        path.chmod(0o755 if path.is_dir() else 0o644)
    try:
        yield folder
    finally:
        kube.kubectl("delete", "clusterrolebinding", binding, "--ignore-not-found")


def _login_args(login: str, request: pytest.FixtureRequest) -> list[str]:
    if login == "kubeconfig":
        path = request.getfixturevalue("kubeconfig_file")
        return ["-v", f"{path}:/kube/config:ro", "-e", "KUBECONFIG=/kube/config"]
    folder = request.getfixturevalue("service_account_dir")
    server = yaml.safe_load(kube.KUBECONFIG.read_text())["clusters"][0]["cluster"]["server"]
    return ["-v", f"{folder}:/var/run/secrets/kubernetes.io/serviceaccount:ro",
            "-e", "KUBERNETES_SERVICE_HOST=127.0.0.1", "-e", f"KUBERNETES_SERVICE_PORT={urlsplit(server).port}"]


@pytest.mark.parametrize("login", ["kubeconfig", "service-account"])
def test_operator_container_reconciles_on_the_cluster(images: None, namespace: str, operator: OperatorProcess,
                                                      login: str, request: pytest.FixtureRequest) -> None:
    operator.stop()  # the container alone must do the work
    health = free_port()
    name = f"mso-e2e-{health}"
    run("docker", "run", "-d", "--name", name, "--network", "host", "--read-only", "--tmpfs", "/tmp", "--cap-drop=ALL",
        "--security-opt", "no-new-privileges", *_login_args(login, request), OPERATOR_IMAGE, "run",
        "--namespace", namespace, "--liveness", f"http://127.0.0.1:{health}/healthz", "--metrics-port", "0")
    try:
        wait_for(lambda: _http_ok(f"http://127.0.0.1:{health}/healthz"), timeout=60, what="the container's liveness")
        kube.apply_obj(manifest(namespace, replicas=4, tracks=[("v1", 75), ("v2", 25)]))
        wait_converged(namespace, timeout=60)
        assert replicas_by_track(namespace) == {"v1": 3, "v2": 1}
    finally:
        logs = run("docker", "logs", name, check=False)
        run("docker", "rm", "-f", name, check=False)
    assert "Traceback" not in logs.stdout + logs.stderr


def _http_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as resp:
            return bool(resp.status == 200)
    except OSError:
        return False


def _call(method: str, url: str, body: dict[str, Any] | None = None,
          headers: dict[str, str] | None = None) -> tuple[int, Any, Message]:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method,
                                     headers={"Content-Type": "application/json", **(headers or {})})
    try:
        with urllib.request.urlopen(request, timeout=10) as resp:
            return resp.status, json.loads(resp.read()), resp.headers
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read() or b"null"), err.headers


@pytest.fixture
def shop_network(images: None) -> Iterator[dict[str, str]]:
    """user-service and order-service containers on a user-defined network, ports on 127.0.0.1."""
    suffix = str(free_port())
    network, user, order = f"shop-{suffix}", f"user-{suffix}", f"order-{suffix}"
    user_port, order_port = free_port(), free_port()
    run("docker", "network", "create", network)
    try:
        run("docker", "run", "-d", "--name", user, "--network", network, "--network-alias", "user",
            "-p", f"127.0.0.1:{user_port}:8080", "-e", "TRACK=v1", "-e", "VERSION=1.0.0", USER_IMAGE)
        run("docker", "run", "-d", "--name", order, "--network", network, "-p", f"127.0.0.1:{order_port}:8080",
            "-e", "USER_SERVICE_URL=http://user:8080", "-e", "USER_TIMEOUT_SECONDS=0.5", ORDER_IMAGE)
        urls = {"user": f"http://127.0.0.1:{user_port}", "order": f"http://127.0.0.1:{order_port}", "user_name": user}
        for url in (urls["user"], urls["order"]):
            wait_for(lambda u=url: _http_ok(f"{u}/readyz"), timeout=60, what=f"{url} ready")
        yield urls
    finally:
        run("docker", "rm", "-f", user, order, check=False)
        run("docker", "network", "rm", network, check=False)


def test_sample_containers_talk_over_a_docker_network(shop_network: dict[str, str]) -> None:
    status, user, headers = _call("POST", f"{shop_network['user']}/users",
                                  {"name": "Barbara Liskov", "email": "barbara@example.com", "balance": 1000})
    assert status == 201 and headers["X-Served-By"] == "v1/1.0.0"
    status, order, _ = _call("POST", f"{shop_network['order']}/orders", {"userId": user["id"], "item": "book"},
                             {"Idempotency-Key": "e2e-1"})
    assert status == 201 and order["status"] == "CONFIRMED"
    assert _call("GET", f"{shop_network['order']}/orders/{order['id']}")[1] == order
    assert _call("GET", f"{shop_network['user']}/users/{user['id']}")[1]["balance"] == 1000 - order["amount"]
    status, body, _ = _call("POST", f"{shop_network['order']}/orders", {"userId": 4242, "item": "book"})
    assert status == 422 and body["status"] == "REJECTED" and body["reason"] == "no such user"
    run("docker", "stop", "-t", "1", shop_network["user_name"])
    started = time.monotonic()
    status, body, headers = _call("POST", f"{shop_network['order']}/orders", {"userId": user["id"], "item": "pen"})
    assert status == 202 and body["status"] == "PENDING"  # the outcome is unknown: the recovery loop settles it
    assert time.monotonic() - started < 5  # bounded: no hang while user-service is down
    assert _call("GET", f"{shop_network['order']}/readyz")[0] == 200  # no cascading outage
