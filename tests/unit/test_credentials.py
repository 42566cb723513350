"""credentials() and the Client's logins, on temporary kubeconfigs and service-account folders.

The real API server's side (an exec plugin's token, a rotated tokenFile, a CONNECT proxy) is in
tests/integration/test_k8s_client.py; here the servers are small local fakes: an HTTP "proxy" that
answers itself, an API server that takes one token only, an OIDC identity provider.
"""

from __future__ import annotations

import base64
import http.server
import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import kopf
import pytest
import urllib3
import yaml
from microservice_operator import k8s
from microservice_operator.k8s import ApiError, Client, credentials

Answer = tuple[int, dict[str, Any]]


class FakeServer:
    """A threaded HTTP server whose every request is answered by ``answer(handler, body)``."""

    def __init__(self, answer: Callable[[http.server.BaseHTTPRequestHandler, bytes], Answer]) -> None:
        self.requests: list[tuple[str, str, dict[str, str]]] = []
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def _any(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                outer.requests.append((self.command, self.path, dict(self.headers.items())))
                status, payload = answer(self, body)
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = _any

            def log_message(self, *_: object) -> None:
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_port}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def serve() -> Iterator[Callable[..., FakeServer]]:
    servers: list[FakeServer] = []

    def start(answer: Callable[[http.server.BaseHTTPRequestHandler, bytes], Answer]) -> FakeServer:
        servers.append(FakeServer(answer))
        return servers[-1]

    yield start
    for server in servers:
        server.close()


@pytest.fixture(autouse=True)
def no_login_around(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """No kubeconfig and no service account unless a test writes one: HOME is empty."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.delenv("KUBECONFIG", raising=False)
    monkeypatch.setattr(k8s, "SERVICE_ACCOUNT_DIR", str(tmp_path / "no-service-account"))
    return home


def write_kubeconfig(path: Path, server: str, user: dict[str, Any], cluster: dict[str, Any] | None = None,
                     namespace: str | None = None) -> Path:
    context: dict[str, Any] = {"cluster": "c", "user": "u", **({"namespace": namespace} if namespace else {})}
    path.write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "current-context": "ctx",
        "clusters": [{"name": "c", "cluster": {"server": server, **(cluster or {})}}],
        "users": [{"name": "u", "user": user}],
        "contexts": [{"name": "ctx", "context": context}]}))
    return path


def use_kubeconfig(monkeypatch: pytest.MonkeyPatch, path: Path) -> Path:
    monkeypatch.setenv("KUBECONFIG", str(path))
    return path


def jwt(subject: str, expires: datetime, warn_after: datetime | None = None) -> str:
    """An unsigned JWT: credentials() reads its ``exp`` claim; nothing here verifies signatures."""
    def part(value: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()
    claims: dict[str, Any] = {"sub": subject, "exp": int(expires.timestamp())}
    if warn_after is not None:  # as the API server adds to a pod's token whose life it extended
        claims["kubernetes.io"] = {"namespace": "ns", "warnafter": int(warn_after.timestamp())}
    return f"{part({'alg': 'none'})}.{part(claims)}.c2ln"


def in_an_hour() -> datetime:
    return (datetime.now(UTC) + timedelta(hours=1)).replace(microsecond=0)


def exec_plugin(tmp_path: Path, status: dict[str, Any], exit_code: int = 0, stderr: str = "") -> dict[str, Any]:
    """A kubeconfig user whose exec plugin (a shell script) prints an ExecCredential with ``status``."""
    script = tmp_path / "plugin.sh"
    credential = {"apiVersion": "client.authentication.k8s.io/v1", "kind": "ExecCredential", "status": status}
    script.write_text(f"#!/bin/sh\necho run >> {tmp_path / 'runs'}\n"
                      f"echo '{stderr}' >&2\necho '{json.dumps(credential)}'\nexit {exit_code}\n")
    script.chmod(0o755)
    return {"exec": {"apiVersion": "client.authentication.k8s.io/v1", "command": str(script),
                     "interactiveMode": "Never"}}


# --- what is tried, and the errors -----------------------------------------------------------------

def test_no_kubeconfig_and_no_service_account_names_both(tmp_path: Path) -> None:
    with pytest.raises(kopf.LoginError) as err:
        credentials()
    message = str(err.value)
    assert "no kubeconfig" in message and "KUBECONFIG is not set" in message and "~/.kube/config" in message
    assert str(tmp_path / "no-service-account" / "token") in message


def test_a_missing_kubeconfig_file_is_named_not_skipped(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    present = write_kubeconfig(tmp_path / "present", "http://127.0.0.1:1", {"token": "t"})
    monkeypatch.setenv("KUBECONFIG", f"{present}{os.pathsep}{tmp_path / 'absent'}")
    with pytest.raises(kopf.LoginError, match=f"KUBECONFIG names {tmp_path / 'absent'}: no such file"):
        credentials()


def test_a_kubeconfig_without_a_current_context_is_an_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "config").write_text("apiVersion: v1\nkind: Config\nclusters: []\n")
    use_kubeconfig(monkeypatch, tmp_path / "config")
    with pytest.raises(kopf.LoginError, match="current-context"):
        credentials()


def test_the_default_kubeconfig_is_used_when_KUBECONFIG_is_unset(no_login_around: Path) -> None:
    (no_login_around / ".kube").mkdir()
    write_kubeconfig(no_login_around / ".kube" / "config", "https://api.example:6443", {"token": "t"}, namespace="ns")
    info = credentials()
    assert (info.server, info.token, info.scheme, info.default_namespace) == ("https://api.example:6443", "t",
                                                                               "Bearer", "ns")


# --- token, tokenFile, basic auth, certificates ---------------------------------------------------

def test_token_file_relative_to_the_kubeconfig_is_read_on_every_login(tmp_path: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "token").write_text("first\n")  # a trailing newline, as `kubectl create token > file` leaves
    use_kubeconfig(monkeypatch, write_kubeconfig(tmp_path / "config", "http://127.0.0.1:1", {"tokenFile": "token"}))
    assert credentials().as_http_headers() == {"Authorization": "Bearer first"}
    (tmp_path / "token").write_text("second")
    assert credentials().token == "second"


def test_a_missing_token_file_is_a_login_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    use_kubeconfig(monkeypatch, write_kubeconfig(tmp_path / "config", "http://127.0.0.1:1", {"tokenFile": "gone"}))
    with pytest.raises(kopf.LoginError, match="gone"):
        credentials()


def test_basic_auth_and_embedded_certificates(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    data = {"client-certificate-data": base64.b64encode(b"CERT").decode(),
            "client-key-data": base64.b64encode(b"KEY").decode(), "username": "ann", "password": "pw"}
    cluster = {"certificate-authority-data": base64.b64encode(b"CA").decode()}
    use_kubeconfig(monkeypatch, write_kubeconfig(tmp_path / "config", "https://api.example", data, cluster))
    info = credentials()
    assert info.as_http_headers() == {"Authorization": "Basic " + base64.b64encode(b"ann:pw").decode()}
    assert [Path(str(p)).read_bytes() for p in (info.ca_path, info.certificate_path, info.private_key_path)] == [
        b"CA", b"CERT", b"KEY"]
    assert info.insecure is False and info.expiration is None


def test_insecure_skip_tls_verify(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    use_kubeconfig(monkeypatch, write_kubeconfig(tmp_path / "config", "https://api.example", {"token": "t"},
                                                 {"insecure-skip-tls-verify": True}))
    assert credentials().insecure is True


# --- expiration: kopf re-logs in when it passes -----------------------------------------------------

def test_a_jwt_gives_its_expiry_unless_it_is_past(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    expires = in_an_hour()
    use_kubeconfig(monkeypatch, write_kubeconfig(tmp_path / "config", "http://127.0.0.1:1",
                                                 {"token": jwt("sa", expires)}))
    assert credentials().expiration == expires
    write_kubeconfig(tmp_path / "config", "http://127.0.0.1:1", {"token": jwt("sa", datetime.now(UTC) - timedelta(1))})
    assert credentials().expiration is None  # kopf would log in again and again; the server's 401 tells


def test_exec_plugin_token_and_expiration(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    expires = in_an_hour()
    stamp = expires.strftime("%Y-%m-%dT%H:%M:%SZ")
    user = exec_plugin(tmp_path, {"token": "from-plugin", "expirationTimestamp": stamp})
    use_kubeconfig(monkeypatch, write_kubeconfig(tmp_path / "config", "http://127.0.0.1:1", user))
    info = credentials()
    assert (info.token, info.expiration) == ("from-plugin", expires)
    credentials()
    assert (tmp_path / "runs").read_text().count("run") == 2  # every login runs the plugin again


def test_exec_plugin_expiration_already_past_is_dropped(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    user = exec_plugin(tmp_path, {"token": "stale", "expirationTimestamp": "2020-01-01T00:00:00Z"})
    use_kubeconfig(monkeypatch, write_kubeconfig(tmp_path / "config", "http://127.0.0.1:1", user))
    assert (credentials().token, credentials().expiration) == ("stale", None)


def test_exec_plugin_client_certificate(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    user = exec_plugin(tmp_path, {"clientCertificateData": "CERT PEM", "clientKeyData": "KEY PEM"})
    use_kubeconfig(monkeypatch, write_kubeconfig(tmp_path / "config", "https://api.example", user))
    info = credentials()
    assert info.token is None
    assert (Path(str(info.certificate_path)).read_text(), Path(str(info.private_key_path)).read_text()) == (
        "CERT PEM", "KEY PEM")


def test_a_failing_exec_plugin_is_a_login_error_with_its_message(tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    user = exec_plugin(tmp_path, {"token": "never"}, exit_code=3, stderr="refresh token revoked")
    use_kubeconfig(monkeypatch, write_kubeconfig(tmp_path / "config", "http://127.0.0.1:1", user))
    with pytest.raises(kopf.LoginError) as err:
        credentials()
    assert "plugin.sh" in str(err.value) and "refresh token revoked" in str(err.value)


def test_the_client_logs_in_again_once_the_expiration_passed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                             serve: Callable[..., FakeServer]) -> None:
    api = serve(lambda handler, body: (200, {"kind": "Status"}))
    soon = (datetime.now(UTC) + timedelta(seconds=2)).strftime("%Y-%m-%dT%H:%M:%SZ")
    use_kubeconfig(monkeypatch, write_kubeconfig(tmp_path / "config", api.url,
                                                 exec_plugin(tmp_path, {"token": "t", "expirationTimestamp": soon})))
    client = Client(pool_size=1)
    client.request("GET", "/version")
    assert (tmp_path / "runs").read_text().count("run") == 1
    time.sleep(max(0.0, (datetime.fromisoformat(soon) - datetime.now(UTC)).total_seconds()) + 0.1)
    client.request("GET", "/version")
    assert (tmp_path / "runs").read_text().count("run") == 2  # before the request, not after a 401


# --- a 401: the credentials are read again, by one thread ------------------------------------------

def test_after_a_401_one_login_serves_every_waiting_thread(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                           serve: Callable[..., FakeServer]) -> None:
    accepted = {"token": "old"}

    def answer(handler: http.server.BaseHTTPRequestHandler, body: bytes) -> Answer:
        ok = handler.headers.get("Authorization") == f"Bearer {accepted['token']}"
        return (200, {"kind": "Status"}) if ok else (401, {"kind": "Status", "message": "Unauthorized"})

    api = serve(answer)
    (tmp_path / "token").write_text("old")
    use_kubeconfig(monkeypatch, write_kubeconfig(tmp_path / "config", api.url, {"tokenFile": "token"}))
    logins: list[kopf.ConnectionInfo] = []
    real = k8s.credentials

    def counted() -> kopf.ConnectionInfo:
        logins.append(real())
        return logins[-1]

    monkeypatch.setattr(k8s, "credentials", counted)
    client = Client(pool_size=8)
    (tmp_path / "token").write_text("new")  # as the kubelet rotates the projected token
    accepted["token"] = "new"
    errors: list[BaseException] = []

    def call() -> None:
        try:
            client.request("GET", "/api/v1/namespaces")
        except BaseException as err:  # reported below
            errors.append(err)

    threads = [threading.Thread(target=call) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == [] and len(logins) == 2  # the first login, and one after the 401s


def test_a_401_with_credentials_still_refused_is_raised(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                        serve: Callable[..., FakeServer]) -> None:
    api = serve(lambda handler, body: (401, {"kind": "Status", "message": "Unauthorized"}))
    use_kubeconfig(monkeypatch, write_kubeconfig(tmp_path / "config", api.url, {"token": "bad"}))
    with pytest.raises(ApiError) as err:
        Client(pool_size=1).request("GET", "/version")
    assert err.value.status == 401 and len(api.requests) == 2


# --- proxy-url -----------------------------------------------------------------------------------

def test_proxy_url_sends_the_clients_requests_through_the_proxy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                serve: Callable[..., FakeServer]) -> None:
    # For an http:// server a proxy gets the absolute URL: this one answers itself.
    proxy = serve(lambda handler, body: (200, {"gitVersion": "v1.proxied"}))
    proxy_url = proxy.url.replace("http://", "http://someone:s%40cret@")
    use_kubeconfig(monkeypatch, write_kubeconfig(tmp_path / "config", "http://api.invalid:6443", {"token": "t"},
                                                 {"proxy-url": proxy_url}))
    assert credentials().proxy_url == proxy_url  # kopf's aiohttp session gets it too
    client = Client(pool_size=1)
    assert isinstance(client.pool, urllib3.ProxyManager)
    assert client.pool.proxy is not None and client.pool.proxy.port == proxy.httpd.server_port
    assert client.request("GET", "/version") == {"gitVersion": "v1.proxied"}
    method, target, sent = proxy.requests[-1]
    headers = {k.lower(): v for k, v in sent.items()}
    assert (method, target) == ("GET", "http://api.invalid:6443/version")
    assert headers["proxy-authorization"] == "Basic " + base64.b64encode(b"someone:s@cret").decode()
    assert headers["authorization"] == "Bearer t"


def test_without_proxy_url_no_proxy_even_with_HTTPS_PROXY_set(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTTPS_PROXY", "http://env-proxy.invalid:3128")
    use_kubeconfig(monkeypatch, write_kubeconfig(tmp_path / "config", "https://api.example", {"token": "t"}))
    assert credentials().proxy_url is None
    assert not isinstance(Client(pool_size=1).pool, urllib3.ProxyManager)


def test_a_socks_proxy_is_refused_by_name(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    use_kubeconfig(monkeypatch, write_kubeconfig(tmp_path / "config", "https://api.example", {"token": "t"},
                                                 {"proxy-url": "socks5://127.0.0.1:1080"}))
    with pytest.raises(kopf.LoginError, match=r"proxy-url socks5://127\.0\.0\.1:1080: only http:// and https://"):
        credentials()


# --- the pod's service account ---------------------------------------------------------------------

@pytest.fixture
def service_account(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "serviceaccount"
    folder.mkdir()
    (folder / "ca.crt").write_text("CA PEM")
    (folder / "namespace").write_text("operators")
    monkeypatch.setattr(k8s, "SERVICE_ACCOUNT_DIR", str(folder))
    return folder


def test_service_account_reads_the_projected_token_on_every_login(service_account: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KUBERNETES_SERVICE_HOST", "fd00::1")
    monkeypatch.setenv("KUBERNETES_SERVICE_PORT", "6443")
    first, second = in_an_hour(), in_an_hour() + timedelta(hours=1)
    (service_account / "token").write_text(jwt("one", first))
    info = credentials()
    assert (info.server, info.ca_path, info.default_namespace) == (
        "https://[fd00::1]:6443", str(service_account / "ca.crt"), "operators")
    assert (info.scheme, info.expiration) == ("Bearer", first)
    (service_account / "token").write_text(jwt("two", second))  # the kubelet rotated it
    assert (credentials().token, credentials().expiration) == (jwt("two", second), second)


def test_a_projected_token_with_an_extended_life_is_due_at_its_warnafter(service_account: Path) -> None:
    """With --service-account-extend-token-expiration (the default) a pod's token is valid for a year,
    but the kubelet replaces it within the hour: kopf logs in again then, not in a year."""
    warn_after = in_an_hour()
    (service_account / "token").write_text(jwt("pod", warn_after + timedelta(days=365), warn_after))
    assert credentials().expiration == warn_after


def test_service_account_without_the_service_variables_uses_the_dns_name(service_account: Path,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    monkeypatch.delenv("KUBERNETES_SERVICE_PORT", raising=False)
    (service_account / "token").write_text("opaque")
    info = credentials()
    assert (info.server, info.token, info.expiration) == ("https://kubernetes.default.svc:443", "opaque", None)


def test_a_kubeconfig_wins_over_the_service_account(service_account: Path, tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    (service_account / "token").write_text("sa")
    use_kubeconfig(monkeypatch, write_kubeconfig(tmp_path / "config", "https://api.example", {"token": "kc"}))
    assert credentials().token == "kc"


def test_an_empty_service_account_token_is_a_login_error(service_account: Path) -> None:
    (service_account / "token").write_text("")
    with pytest.raises(kopf.LoginError, match=f"service account {service_account}: .*empty"):
        credentials()


# --- OIDC: an expired id-token is refreshed at the identity provider ------------------------------

@pytest.fixture
def identity_provider(serve: Callable[..., FakeServer], monkeypatch: pytest.MonkeyPatch) -> tuple[FakeServer, str]:
    monkeypatch.setenv("OAUTHLIB_INSECURE_TRANSPORT", "1")  # the fake provider is plain http
    fresh = jwt("oidc-user", in_an_hour())
    holder: dict[str, str] = {}

    def answer(handler: http.server.BaseHTTPRequestHandler, body: bytes) -> Answer:
        if handler.path == "/.well-known/openid-configuration":
            return 200, {"issuer": holder["url"], "token_endpoint": f"{holder['url']}/token"}
        assert b"grant_type=refresh_token" in body and b"refresh_token=refresh-1" in body
        return 200, {"access_token": "access", "token_type": "Bearer", "id_token": fresh,
                     "refresh_token": "refresh-2", "expires_in": 3600}

    idp = serve(answer)
    holder["url"] = idp.url
    return idp, fresh


def oidc_user(idp: FakeServer) -> dict[str, Any]:
    return {"auth-provider": {"name": "oidc", "config": {
        "client-id": "operator", "client-secret": "secret", "idp-issuer-url": idp.url,
        "id-token": jwt("oidc-user", datetime.now(UTC) - timedelta(hours=1)), "refresh-token": "refresh-1"}}}


def test_oidc_refreshes_an_expired_id_token_and_writes_it_back(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                               identity_provider: tuple[FakeServer, str]) -> None:
    idp, fresh = identity_provider
    path = use_kubeconfig(monkeypatch, write_kubeconfig(tmp_path / "config", "https://api.example", oidc_user(idp)))
    info = credentials()
    assert info.token == fresh and info.expiration is not None
    saved = yaml.safe_load(path.read_text())["users"][0]["user"]["auth-provider"]["config"]
    assert (saved["id-token"], saved["refresh-token"]) == (fresh, "refresh-2")  # as kubectl keeps them


def test_oidc_refresh_with_a_read_only_kubeconfig_still_logs_in(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                identity_provider: tuple[FakeServer, str],
                                                                caplog: pytest.LogCaptureFixture) -> None:
    idp, fresh = identity_provider
    path = use_kubeconfig(monkeypatch, write_kubeconfig(tmp_path / "config", "https://api.example", oidc_user(idp)))
    monkeypatch.setattr("builtins.open", _read_only(open, path))
    assert credentials().token == fresh
    assert "could not write the refreshed token back" in caplog.text


def _read_only(real_open: Callable[..., Any], path: Path) -> Callable[..., Any]:
    def guarded(file: Any, mode: str = "r", *args: Any, **kwargs: Any) -> Any:
        if str(file) == str(path) and "w" in mode:
            raise OSError(30, "Read-only file system", str(path))
        return real_open(file, mode, *args, **kwargs)
    return guarded


# --- the operator's process loads kubernetes.config alone -------------------------------------------

LEAN_PROBE = """
import json, sys
from microservice_operator import kubelogin
assert kubelogin.load_config_only() and kubelogin.loaded_config_only()
import kopf
from kopf._cogs.helpers import thirdparty
from microservice_operator import handlers
from microservice_operator.k8s import Client, credentials
before = sorted(m for m in sys.modules if m.startswith(("kubernetes", "requests", "oauthlib")))
client = Client(pool_size=1)
out = {"loaded": before, "kopf_models": thirdparty.V1ObjectMetaSync is not None,
       "version": client.request("GET", "/version"), "token": credentials().token}
if len(sys.argv) > 1:
    import kubernetes.client
    try:
        kubernetes.client.CoreV1Api
    except AttributeError as err:
        out["whole_client"] = str(err)
print(json.dumps(out))
"""


def _probe(env: dict[str, str], *args: str) -> dict[str, Any]:
    result = subprocess.run([sys.executable, "-c", LEAN_PROBE, *args], capture_output=True, text=True,
                            env=env, timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    loaded: dict[str, Any] = json.loads(result.stdout.strip().splitlines()[-1])
    return loaded


def test_the_operator_loads_kubernetes_config_without_the_client(tmp_path: Path, serve: Callable[..., FakeServer],
                                                                 ) -> None:
    """What cli.run does before importing kopf: the config loaders, exec plugins included, without the
    rest of the package (8 MiB), and kopf then sees no model classes to import."""
    api = serve(lambda handler, body: (200, {"gitVersion": "v1.fake"}))
    config = write_kubeconfig(tmp_path / "config", api.url, exec_plugin(tmp_path, {"token": "lean"}))
    found = _probe({**os.environ, "KUBECONFIG": str(config)}, "whole")
    assert found["version"] == {"gitVersion": "v1.fake"} and found["token"] == "lean"
    assert found["kopf_models"] is False
    assert not [m for m in found["loaded"] if m.startswith(("requests", "oauthlib", "kubernetes.client.api"))]
    assert "kubernetes.config.kube_config" in found["loaded"] and "kubernetes.client.configuration" in found["loaded"]
    assert "loaded only kubernetes.config" in found["whole_client"]


def test_the_lean_load_still_refreshes_oidc(tmp_path: Path, identity_provider: tuple[FakeServer, str],
                                            serve: Callable[..., FakeServer]) -> None:
    """The OIDC refresh is the one path that needs kubernetes.client.ApiClient and requests_oauthlib:
    they are imported then."""
    idp, fresh = identity_provider
    api = serve(lambda handler, body: (200, {"gitVersion": "v1.fake"}))
    config = write_kubeconfig(tmp_path / "config", api.url, oidc_user(idp))
    found = _probe({**os.environ, "KUBECONFIG": str(config), "OAUTHLIB_INSECURE_TRANSPORT": "1"})
    assert found["token"] == fresh


def test_with_kubernetes_imported_already_nothing_is_replaced() -> None:
    import kubernetes
    from microservice_operator import kubelogin

    assert not kubelogin.load_config_only() and not kubelogin.loaded_config_only()
    assert sys.modules["kubernetes"] is kubernetes
