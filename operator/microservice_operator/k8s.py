"""Every call the operator makes to the Kubernetes API.

Writes are server-side applies with field manager ``microservice-operator``: the operator states
the fields it owns, the API server merges, and fields it stops sending are removed. Requests go
over a blocking urllib3 pool, so these functions run in worker threads, never on kopf's event loop.

The operator does not use the official ``kubernetes`` package: kopf imports it whenever it is
installed, and without it the operator starts 9 MiB smaller (68 -> 59 MiB RSS). Credentials come
from kopf's own kubeconfig and service-account logins, the same ones kopf's watches use.
"""

from __future__ import annotations

import base64
import dataclasses
import json
import logging
import os
import socket
import ssl
import tempfile
import threading
import time
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

import kopf
import urllib3

from . import __version__
from .api import API_VERSION, KIND, PLURAL
from .resources.common import FIELD_MANAGER

log = logging.getLogger(__name__)

USER_AGENT = f"microservice-operator/{__version__}"
APPLY_CONTENT_TYPE = "application/apply-patch+yaml"  # JSON is YAML
REQUEST_TIMEOUT = urllib3.Timeout(connect=10, read=30)
# Connection failures (an idle pooled connection the server closed) are retried; answers never are:
# a 429's Retry-After reaches the controller's backoff instead of blocking a worker thread in urllib3.
RETRIES = urllib3.Retry(total=2, redirect=0, status=0, respect_retry_after_header=False)
_PLURALS = {"Deployment": "deployments", "Service": "services", "HTTPRoute": "httproutes", KIND: PLURAL,
            "Event": "events"}


class ApiError(Exception):
    """The API server answered outside 2xx. ``message`` is its own explanation when it sent a Status."""

    def __init__(self, status: int, reason: str, body: str, retry_after: float | None = None) -> None:
        self.status, self.reason, self.body = status, reason, body
        self.retry_after = retry_after  # seconds, from a 429's (or 503's) Retry-After header
        try:
            message = json.loads(body).get("message") or reason
        except (ValueError, AttributeError):
            message = reason
        self.message: str = message
        super().__init__(f"HTTP {status}: {message}")


class ResourceUnavailable(Exception):
    """The API server does not serve this kind (for example, the Gateway API CRDs are not installed)."""


def credentials() -> kopf.ConnectionInfo:
    """Where the API server is and how to log in: a kubeconfig (``KUBECONFIG`` or ~/.kube/config)
    if there is one, else the pod's service account. Raises kopf.LoginError if neither is found.

    In a pod the server is ``KUBERNETES_SERVICE_HOST:PORT``, as client-go's in-cluster config has it,
    so the operator does not depend on cluster DNS to reach the API server.
    """
    settings = kopf.OperatorSettings()
    found = kopf.login_with_kubeconfig(settings=settings)
    if found is not None:
        return found
    account = kopf.login_with_service_account(settings=settings)
    if account is None:
        raise kopf.LoginError("no kubeconfig (KUBECONFIG, ~/.kube/config) and no service account token")
    host, port = os.environ.get("KUBERNETES_SERVICE_HOST"), os.environ.get("KUBERNETES_SERVICE_PORT", "443")
    if host:
        account = dataclasses.replace(account, server=f"https://{f'[{host}]' if ':' in host else host}:{port}")
    return account


def _ssl_context(info: kopf.ConnectionInfo) -> ssl.SSLContext:
    """TLS as the kubeconfig says: its CA (path or data), client certificate, or no verification."""
    cadata = base64.b64decode(info.ca_data).decode() if info.ca_data else None
    ctx = ssl.create_default_context(cafile=os.fsdecode(info.ca_path) if info.ca_path else None, cadata=cadata)
    if info.insecure:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    if info.certificate_path or info.certificate_data:
        with tempfile.TemporaryDirectory() as tmp:  # ssl loads certificates from files only
            cert = _file(info.certificate_path, info.certificate_data, tmp, "tls.crt")
            key = _file(info.private_key_path, info.private_key_data, tmp, "tls.key")
            if cert:
                ctx.load_cert_chain(cert, key)
    return ctx


def _file(path: Any, data: str | bytes | None, tmp: str, name: str) -> str | None:
    if path:
        return os.fsdecode(path)
    if not data:
        return None
    target = os.path.join(tmp, name)
    with open(os.open(target, os.O_WRONLY | os.O_CREAT, 0o600), "wb") as out:
        out.write(base64.b64decode(data))
    return target


class Client:
    """A pool of connections to the API server, shared by all worker threads.

    On a 401 the credentials are read again and the request is retried once: service-account
    tokens are rotated by the kubelet.
    """

    def __init__(self, pool_size: int = 16, timeout: urllib3.Timeout = REQUEST_TIMEOUT,
                 retries: urllib3.Retry = RETRIES) -> None:
        self.pool_size, self.timeout, self.retries = pool_size, timeout, retries
        self._login()

    def _login(self) -> None:
        info = credentials()
        self.server = info.server.rstrip("/")
        self.headers = {"User-Agent": user_agent(), "Accept": "application/json", **info.as_http_headers()}
        tls = _ssl_context(info) if self.server.startswith("https:") else None
        self.pool = urllib3.PoolManager(num_pools=2, maxsize=self.pool_size, block=True, retries=self.retries,
                                        timeout=self.timeout, ssl_context=tls)

    def request(self, method: str, path: str, body: Any = None, query: dict[str, str] | None = None,
                content_type: str = "application/json") -> Any:
        """One request; JSON in and out. Raises ApiError on any status outside 2xx."""
        url = self.server + path + (f"?{urlencode(query)}" if query else "")
        payload = json.dumps(body).encode() if body is not None else None
        response = self._send(method, url, payload, content_type)
        if response.status == 401:
            self._login()
            response = self._send(method, url, payload, content_type)
        if not 200 <= response.status < 300:
            raise ApiError(response.status, response.reason or "", response.data.decode(errors="replace"),
                           retry_after=_retry_after(response.headers.get("Retry-After")))
        return json.loads(response.data) if response.data else {}

    def _send(self, method: str, url: str, payload: bytes | None, content_type: str) -> urllib3.BaseHTTPResponse:
        return self.pool.request(method, url, body=payload, headers={**self.headers, "Content-Type": content_type})


def _retry_after(value: str | None) -> float | None:
    """Retry-After in seconds (the API server sends an integer; an HTTP date is not used by it)."""
    try:
        seconds = float(value) if value is not None else None
    except ValueError:
        return None
    return seconds if seconds is not None and seconds >= 0 else None


def user_agent() -> str:
    """``microservice-operator/VERSION (POD)``: audit logs tell the replicas apart by pod name."""
    return f"{USER_AGENT} ({os.environ.get('POD_NAME') or socket.gethostname()})"


def load_client(pool_size: int = 16, timeout: urllib3.Timeout = REQUEST_TIMEOUT,
                retries: urllib3.Retry = RETRIES) -> Client:
    """A client logged in as :func:`credentials` says."""
    return Client(pool_size, timeout, retries)


def object_path(api_version: str, kind: str, namespace: str, name: str | None = None) -> str:
    """The REST path of a namespaced object (or of its collection when ``name`` is None)."""
    prefix = f"/api/{api_version}" if "/" not in api_version else f"/apis/{api_version}"
    path = f"{prefix}/namespaces/{namespace}/{_PLURALS[kind]}"
    return f"{path}/{name}" if name else path


class Kube:
    """The operator's API calls, over one pooled client shared by all worker threads."""

    def __init__(self, client: Client) -> None:
        self.client = client
        self._known_missing: dict[str, float] = {}
        self._known_served: set[str] = set()
        self._lock = threading.Lock()

    def apply(self, obj: dict[str, Any], subresource: str = "", force: bool = True) -> dict[str, Any]:
        """Server-side applies ``obj`` (or its status, with ``subresource='status'``).

        ``force=False`` for a child the operator believes new: if an object of that name exists with
        fields another manager set, the API server answers 409 instead of handing them over.
        """
        meta = obj["metadata"]
        path = object_path(obj["apiVersion"], obj["kind"], meta["namespace"], meta["name"])
        if subresource:
            path += f"/{subresource}"
        query = {"fieldManager": FIELD_MANAGER, "force": "true" if force else "false"}
        try:
            result: dict[str, Any] = self.client.request("PATCH", path, obj, query, APPLY_CONTENT_TYPE)
        except ApiError as err:
            if err.status == 404 and not subresource:
                self._mark_missing(obj["apiVersion"])
                raise ResourceUnavailable(f"{obj['kind']} ({obj['apiVersion']}) is not served") from err
            raise
        return result

    def owner_of(self, obj: dict[str, Any]) -> tuple[str, str | None]:
        """Who owns the live object named like ``obj`` (its controller, else the managers of its fields),
        and the controller's uid."""
        meta = obj["metadata"]
        live = self.client.request("GET", object_path(obj["apiVersion"], obj["kind"], meta["namespace"], meta["name"]))
        live_meta = live.get("metadata") or {}
        controller = next((r for r in live_meta.get("ownerReferences") or [] if r.get("controller")), None)
        if controller is not None:
            return f"{controller.get('kind')} {controller.get('name')}", controller.get("uid")
        managers = sorted({m.get("manager", "?") for m in live_meta.get("managedFields") or []
                           if not m.get("subresource")})  # who wrote the object, not its status
        return f"no controller (fields set by {', '.join(managers) or 'unknown managers'})", None

    def delete(self, obj: dict[str, Any]) -> None:
        """Deletes an observed object, only if it is still the same object (uid precondition)."""
        meta = obj["metadata"]
        path = object_path(obj["apiVersion"], obj["kind"], meta["namespace"], meta["name"])
        body = {"kind": "DeleteOptions", "apiVersion": "v1", "propagationPolicy": "Background",
                "preconditions": {"uid": meta.get("uid")} if meta.get("uid") else None}
        try:
            self.client.request("DELETE", path, body)
        except ApiError as err:
            if err.status not in (404, 409):
                raise

    def scale(self, deployment: dict[str, Any], replicas: int) -> dict[str, Any]:
        """Sets a Deployment's spec.replicas alone (a removed track's, whose pod template is no longer known)."""
        meta = deployment["metadata"]
        path = object_path("apps/v1", "Deployment", meta["namespace"], meta["name"])
        result: dict[str, Any] = self.client.request("PATCH", path, {"spec": {"replicas": replicas}},
                                                     {"fieldManager": FIELD_MANAGER}, "application/merge-patch+json")
        return result

    def list_pods(self, namespace: str, selector: str) -> list[dict[str, Any]]:
        """The pods matching the label ``selector`` in ``namespace``."""
        found = self.client.request("GET", f"/api/v1/namespaces/{namespace}/pods", query={"labelSelector": selector})
        items: list[dict[str, Any]] = found.get("items") or []
        return items

    def serves(self, api_version: str, kind: str, recheck_after: float = 5.0) -> bool:
        """Whether the API server serves ``kind``.

        A positive answer is kept until an apply gets a 404 (``_mark_missing``); a negative one is
        re-checked after a few seconds. So reconciles do not repeat the discovery request.
        """
        with self._lock:
            if api_version in self._known_served:
                return True
            missing_since = self._known_missing.get(api_version)
        if missing_since is not None and time.monotonic() - missing_since < recheck_after:
            return False
        try:
            found = self.client.request("GET", f"/apis/{api_version}")
        except ApiError as err:
            if err.status != 404:
                raise
            found = {"resources": []}
        ok = any(r.get("kind") == kind for r in found.get("resources", []))
        with self._lock:
            if ok:
                self._known_missing.pop(api_version, None)
                self._known_served.add(api_version)
            else:
                self._known_missing[api_version] = time.monotonic()
        return ok

    def _mark_missing(self, api_version: str) -> None:
        with self._lock:
            self._known_served.discard(api_version)
            self._known_missing[api_version] = time.monotonic()

    def post_event(self, owner: dict[str, Any], etype: str, reason: str, message: str) -> None:
        """Records a core/v1 Event on the Microservice, as ``kubectl describe`` shows them."""
        meta = owner["metadata"]
        now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        event = {
            "apiVersion": "v1", "kind": "Event",
            "metadata": {"generateName": f"{meta['name']}.", "namespace": meta["namespace"]},
            "involvedObject": {"apiVersion": API_VERSION, "kind": KIND, "name": meta["name"],
                               "namespace": meta["namespace"], "uid": meta.get("uid")},
            "type": etype, "reason": reason, "message": message[:1024],
            "source": {"component": FIELD_MANAGER}, "reportingComponent": FIELD_MANAGER,
            "firstTimestamp": now, "lastTimestamp": now, "count": 1,
        }
        try:
            self.client.request("POST", object_path("v1", "Event", meta["namespace"]), event)
        except ApiError as err:  # an event is worth a log line, never a failed reconcile
            log.warning("could not post event %s on %s/%s: %s", reason, meta["namespace"], meta["name"], err)
