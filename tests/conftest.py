"""Fixtures for tests on the real local cluster (kube-apiserver, etcd, controller-manager,
scheduler, kwok nodes and one real node, built by hack/cluster). Unit tests use none of them."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import images as image_support
from tests.support import kube

UP = kube.ROOT / "hack" / "cluster" / "up.sh"
DOWN = kube.ROOT / "hack" / "cluster" / "down.sh"
LOGS = kube.STATE / "logs"


def _cluster_answers() -> bool:
    if not kube.KUBECONFIG.exists() or not kube.KUBECTL.exists():
        return False
    return kube.kubectl("get", "--raw", "/readyz", check=False).returncode == 0


@pytest.fixture(scope="session")
def cluster() -> Iterator[Path]:
    """The local cluster: reused when it runs, else started, and then stopped after the session.

    Under `make test-e2e` with KUBECONFIG set, that cluster instead: it must answer, and is left as is.
    """
    if not kube.LOCAL:
        if not _cluster_answers():
            pytest.fail(f"the cluster of KUBECONFIG={kube.KUBECONFIG} does not answer")
        yield kube.KUBECONFIG
        return
    started = False
    if not _cluster_answers():
        result = subprocess.run([str(UP)], capture_output=True, text=True, timeout=600, check=False)
        if result.returncode != 0:
            pytest.fail(f"could not start the local cluster:\n{result.stdout}\n{result.stderr}")
        started = True
    yield kube.KUBECONFIG
    if started and not os.environ.get("MSO_KEEP_CLUSTER"):
        subprocess.run([str(DOWN)], capture_output=True, text=True, timeout=120, check=False)


@pytest.fixture(scope="session")
def crds(cluster: Path) -> None:
    kube.kubectl("apply", "--server-side", "--force-conflicts", "-f", str(kube.ROOT / "crds"))
    kube.kubectl("wait", "--for=condition=Established", "crd/microservices.microservice-operator.io",
                 "--timeout=60s")


def make_namespace(request: pytest.FixtureRequest, *labels: str, annotation: str | None = None) -> str:
    """Creates a namespace named after the test, with ``labels`` (key=value) and an annotation."""
    base = request.node.name.lower().replace("_", "-").replace("[", "-").replace("]", "")[:40].strip("-")
    name = f"t-{base}-{uuid.uuid4().hex[:5]}"
    kube.kubectl("create", "namespace", name)
    if labels:
        kube.kubectl("label", "namespace", name, *labels)
    if annotation:
        kube.kubectl("annotate", "namespace", name, annotation)
    return name


@pytest.fixture
def namespace(cluster: Path, request: pytest.FixtureRequest) -> Iterator[str]:
    """A namespace of the test's own whose pods run on the kwok nodes, deleted afterwards."""
    name = make_namespace(request, annotation=kube.KWOK_NAMESPACE_ANNOTATION)
    yield name
    kube.kubectl("delete", "namespace", name, "--wait=false", check=False)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class OperatorProcess:
    """The operator, run as its own process against the local cluster, as `make run` does."""

    def __init__(self, extra_env: dict[str, str] | None = None, log_name: str = "operator-tests.log",
                 args: list[str] | None = None) -> None:
        self.args = args or []
        self.health_port = free_port()
        self.metrics_port = free_port()
        self.log_path = LOGS / log_name
        self.extra_env = extra_env or {}
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def metrics_url(self) -> str:
        return f"http://127.0.0.1:{self.metrics_port}/metrics"

    def start(self) -> None:
        LOGS.mkdir(parents=True, exist_ok=True)
        log = open(self.log_path, "ab")  # noqa: SIM115 (the process writes to it after we return)
        cmd = [str(kube.ROOT / ".venv-operator" / "bin" / "microservice-operator"), "run",
               "--liveness", f"http://127.0.0.1:{self.health_port}/healthz",
               "--metrics-port", str(self.metrics_port), "--metrics-address", "127.0.0.1", *self.args]
        env = {**kube.env_with_kubeconfig(), "MSO_RESYNC_SECONDS": "300", "MSO_HEAL_SECONDS": "5", **self.extra_env}
        self.proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env)
        kube.wait_for(self._healthy, timeout=60, what=f"operator liveness (log: {self.log_path})")

    def _healthy(self) -> bool:
        assert self.proc is not None
        if self.proc.poll() is not None:
            raise AssertionError(f"operator exited with {self.proc.returncode}; see {self.log_path}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.health_port}/healthz", timeout=2) as resp:
                return bool(resp.status == 200)
        except OSError:
            return False

    def kill(self, sig: int = signal.SIGKILL) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(sig)
            self.proc.wait(timeout=30)

    def stop(self) -> None:
        self.kill(signal.SIGTERM)


@pytest.fixture(scope="session")
def operator(crds: None) -> Iterator[OperatorProcess]:
    proc = OperatorProcess()
    proc.start()
    yield proc
    proc.stop()


@pytest.fixture
def operator_alive(operator: OperatorProcess) -> OperatorProcess:
    """The session operator, restarted first if a previous test killed it."""
    if operator.proc is None or operator.proc.poll() is not None:
        operator.start()
    return operator


@pytest.fixture(scope="session")
def images() -> Iterator[None]:
    """Builds the three images (and starts dockerd, and makes the base image, if needed)."""
    started_here = not image_support.DOCKERD_PID.exists()
    try:
        image_support.build()
    except AssertionError as err:
        pytest.fail(f"building the images failed:\n{err}")
    yield
    if started_here and image_support.DOCKERD_PID.exists():
        image_support.run(str(kube.ROOT / "hack" / "dockerd.sh"), "stop", check=False)
