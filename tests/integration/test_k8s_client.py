"""The operator's own API client (microservice_operator.k8s) against the real API server.

Its login paths are proven here: kubeconfig files with certificate paths, with embedded data, with a
bearer token that is replaced while the client runs, with an exec plugin, with a ``tokenFile``
rotated mid-run, and through a ``proxy-url`` (for kopf's watches too).
"""

from __future__ import annotations

import asyncio
import json
import select
import socket
import socketserver
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from microservice_operator.k8s import ApiError, Client, Kube, credentials, load_client

from tests.support import kube

pytestmark = pytest.mark.cluster


@pytest.fixture
def kubeconfig(monkeypatch: pytest.MonkeyPatch, cluster: object) -> Path:
    monkeypatch.setenv("KUBECONFIG", str(kube.KUBECONFIG))
    return kube.KUBECONFIG


def service(namespace: str, **spec: object) -> dict[str, object]:
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "probe", "namespace": namespace},
            "spec": {"ports": [{"port": 80}], **spec}}


def test_applies_as_the_operator_and_reports_the_servers_message(kubeconfig: Path, namespace: str) -> None:
    client = Kube(load_client(pool_size=2))
    applied = client.apply(service(namespace))
    assert applied["metadata"]["uid"] and applied["spec"]["ports"][0]["port"] == 80
    managers = [m["manager"] for m in applied["metadata"]["managedFields"]]
    assert managers == ["microservice-operator"]
    with pytest.raises(ApiError) as err:
        client.apply(service(namespace, type="Bogus"))
    assert err.value.status == 422 and "spec.type" in err.value.message
    assert str(err.value).startswith("HTTP 422: ")
    assert client.serves("apps/v1", "Deployment") and not client.serves("nothing.example.com/v1", "Thing")


def test_logs_in_with_embedded_certificates(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                            kubeconfig: Path) -> None:
    flat = kube.portable_kubeconfig()
    assert "client-certificate-data" in flat["users"][0]["user"]
    assert "certificate-authority-data" in flat["clusters"][0]["cluster"]
    (tmp_path / "flat").write_text(json.dumps(flat))
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "flat"))
    assert load_client(pool_size=1).request("GET", "/version")["gitVersion"].startswith("v1.")


def test_reads_a_replaced_token_after_a_401(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                            kubeconfig: Path, namespace: str) -> None:
    kube.kubectl("create", "serviceaccount", "reader", "-n", namespace)
    kube.kubectl("create", "rolebinding", "reader", "-n", namespace, "--clusterrole=view",
                 f"--serviceaccount={namespace}:reader")
    token = kube.kubectl("create", "token", "reader", "-n", namespace).stdout.strip()
    path = kube.write_token_kubeconfig(tmp_path / "token", "not-a-valid-token")
    monkeypatch.setenv("KUBECONFIG", str(path))
    client = load_client(pool_size=1)
    with pytest.raises(ApiError) as err:
        client.request("GET", f"/api/v1/namespaces/{namespace}/services")
    assert err.value.status == 401
    kube.write_token_kubeconfig(path, token)  # as the kubelet rotates a projected token
    assert client.request("GET", f"/api/v1/namespaces/{namespace}/services")["items"] == []
    with pytest.raises(ApiError) as err:
        client.request("GET", "/api/v1/namespaces/kube-system/secrets")
    assert err.value.status == 403 and "reader" in err.value.message


# --- logins through the kubernetes package's loaders: exec plugins, tokenFile, proxy-url ---------------

SELF_REVIEW = {"apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview"}


def whoami(client: Client) -> str:
    """The user the API server sees (a SelfSubjectReview: any authenticated user may create one)."""
    review = client.request("POST", "/apis/authentication.k8s.io/v1/selfsubjectreviews", SELF_REVIEW)
    username: str = review["status"]["userInfo"]["username"]
    return username


def account_token(namespace: str, name: str) -> str:
    """A new ServiceAccount's token (bound to it: deleting the account revokes it)."""
    kube.kubectl("create", "serviceaccount", name, "-n", namespace)
    return kube.kubectl("create", "token", name, "-n", namespace).stdout.strip()


def kubeconfig_with_user(path: Path, user: dict[str, object], **cluster: object) -> Path:
    config = kube.portable_kubeconfig()
    config["users"] = [{"name": "under-test", "user": user}]
    config["contexts"][0]["context"]["user"] = "under-test"
    config["clusters"][0]["cluster"].update(cluster)
    path.write_text(json.dumps(config))
    return path


def test_logs_in_with_an_exec_plugin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, kubeconfig: Path,
                                     namespace: str) -> None:
    token = account_token(namespace, "plugin-user")
    (tmp_path / "token").write_text(token)
    expires = (datetime.now(UTC) + timedelta(minutes=30)).replace(microsecond=0)
    plugin = tmp_path / "credential-plugin"  # as a cloud's plugin would, minus the cloud
    plugin.write_text('#!/bin/sh\necho run >> "$RUNS"\n'
                      'printf \'{"apiVersion": "client.authentication.k8s.io/v1", "kind": "ExecCredential", '
                      '"status": {"token": "%s", "expirationTimestamp": "%s"}}\\n\' '
                      '"$(cat "$TOKEN_FILE")" "$EXPIRES"\n')
    plugin.chmod(0o755)
    env = {"TOKEN_FILE": str(tmp_path / "token"), "RUNS": str(tmp_path / "runs"),
           "EXPIRES": expires.strftime("%Y-%m-%dT%H:%M:%SZ")}
    path = kubeconfig_with_user(tmp_path / "config", {"exec": {
        "apiVersion": "client.authentication.k8s.io/v1", "command": str(plugin), "interactiveMode": "Never",
        "env": [{"name": k, "value": v} for k, v in env.items()]}})
    monkeypatch.setenv("KUBECONFIG", str(path))
    info = credentials()  # what the login handler gives kopf's watches
    assert (info.token, info.expiration) == (token, expires)
    client = load_client(pool_size=1)
    assert whoami(client) == f"system:serviceaccount:{namespace}:plugin-user"
    assert (tmp_path / "runs").read_text().count("run") == 2  # once per login: no cache of its own


def test_a_token_file_rotated_mid_run_is_read_again_after_a_401(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                kubeconfig: Path, namespace: str) -> None:
    first, second = account_token(namespace, "first"), account_token(namespace, "second")
    (tmp_path / "token").write_text(first + "\n")
    monkeypatch.setenv("KUBECONFIG", str(kubeconfig_with_user(tmp_path / "config", {"tokenFile": "token"})))
    client = load_client(pool_size=2)
    assert whoami(client) == f"system:serviceaccount:{namespace}:first"
    (tmp_path / "token").write_text(second + "\n")
    # The first token is still good: the client keeps it until a 401 (or its expiry, an hour away).
    assert whoami(client) == f"system:serviceaccount:{namespace}:first"
    kube.kubectl("delete", "serviceaccount", "first", "-n", namespace)  # revokes the first token
    kube.wait_for(lambda: whoami(client) == f"system:serviceaccount:{namespace}:second", timeout=30,
                  what="the client to be refused the first token and read the second")
    assert credentials().token == second


class ConnectProxy:
    """An HTTP CONNECT proxy on 127.0.0.1, as a kubeconfig's proxy-url names one; records its tunnels."""

    def __init__(self) -> None:
        self.tunnels: list[str] = []
        outer = self

        class Tunnel(socketserver.BaseRequestHandler):
            def handle(self) -> None:
                head = b""
                while b"\r\n\r\n" not in head:
                    chunk = self.request.recv(4096)
                    if not chunk:
                        return
                    head += chunk
                method, target = head.split(b" ")[:2]
                assert method == b"CONNECT"
                outer.tunnels.append(target.decode())
                host, port = target.decode().rsplit(":", 1)
                with socket.create_connection((host, int(port)), timeout=10) as upstream:
                    self.request.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
                    _pipe(self.request, upstream)

        self.server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Tunnel)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def _pipe(a: socket.socket, b: socket.socket) -> None:
    while True:
        ready, _, _ = select.select([a, b], [], [], 10)
        if not ready:
            return
        for source in ready:
            data = source.recv(65536)
            if not data:
                return
            (b if source is a else a).sendall(data)


def test_proxy_url_carries_the_clients_and_kopfs_requests(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                          kubeconfig: Path) -> None:
    proxy = ConnectProxy()
    try:
        flat = kube.portable_kubeconfig()
        api = urlsplit(flat["clusters"][0]["cluster"]["server"]).netloc
        flat["clusters"][0]["cluster"]["proxy-url"] = proxy.url
        (tmp_path / "config").write_text(json.dumps(flat))
        monkeypatch.setenv("KUBECONFIG", str(tmp_path / "config"))
        assert load_client(pool_size=1).request("GET", "/version")["gitVersion"].startswith("v1.")
        assert proxy.tunnels == [api]
        info = credentials()
        assert info.proxy_url == proxy.url
        # kopf's watches use one aiohttp session per login, made as here (kopf's private API).
        from kopf._cogs.clients.auth import APIContext

        async def kopf_get() -> int:
            context = APIContext(info)
            try:
                async with context.session.get(f"{info.server}/version") as response:
                    return response.status
            finally:
                await context.close()

        assert asyncio.run(kopf_get()) == 200
        assert proxy.tunnels == [api, api]
    finally:
        proxy.close()
