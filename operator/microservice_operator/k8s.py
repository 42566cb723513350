"""Every call the operator makes to the Kubernetes API.

Writes are server-side applies with field manager ``microservice-operator``: the operator states
the fields it owns, the API server merges, and fields it stops sending are removed. Requests go
over a blocking urllib3 pool, so these functions run in worker threads, never on kopf's event loop.

Credentials come from the official ``kubernetes`` package's config loaders (:func:`credentials`), the
same for kopf's watches (the login handler) and for this client. Only ``kubernetes.config`` is loaded
in the operator, not the rest of that package: see :mod:`microservice_operator.kubelogin`.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import socket
import ssl
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import unquote, urlencode, urlsplit

import kopf
import urllib3
import yaml

from . import __version__, kubelogin
from .api import API_VERSION, KIND, PLURAL
from .resources.common import FIELD_MANAGER

log = logging.getLogger(__name__)

USER_AGENT = f"microservice-operator/{__version__}"
APPLY_CONTENT_TYPE = "application/apply-patch+yaml"  # JSON is YAML
TABLE = "application/json;as=Table;v=v1;g=meta.k8s.io"  # what kubectl get asks for: one row per object
REQUEST_TIMEOUT = urllib3.Timeout(connect=10, read=30)
# Connection failures (an idle pooled connection the server closed) are retried; answers never are:
# a 429's Retry-After reaches the controller's backoff instead of blocking a worker thread in urllib3.
RETRIES = urllib3.Retry(total=2, redirect=0, status=0, respect_retry_after_header=False)
_PLURALS = {"Deployment": "deployments", "Service": "services", "HTTPRoute": "httproutes", KIND: PLURAL,
            "Event": "events"}
# The pod's service account, as the kubelet mounts it (token, ca.crt, namespace).
SERVICE_ACCOUNT_DIR = "/var/run/secrets/kubernetes.io/serviceaccount"
DEFAULT_KUBECONFIG = "~/.kube/config"


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
    """Where the API server is and how to log in, as the ``kubernetes`` package's loaders read it: the
    kubeconfig (every file of ``KUBECONFIG``, merged, else ~/.kube/config) if there is one, else the
    pod's service account. Raises kopf.LoginError naming what was tried when neither gives a login.

    From a kubeconfig: server, CA, ``insecure-skip-tls-verify``, client certificate and key (paths or
    data), ``token`` or ``tokenFile``, an exec plugin (token or client certificate, and its
    ``expirationTimestamp``), an OIDC ``auth-provider`` (refreshed when its id-token expired),
    username and password, ``proxy-url`` (http or https) and the context's namespace. In a pod: the
    server is ``KUBERNETES_SERVICE_HOST:PORT`` as client-go has it (no cluster DNS needed), with the
    projected token and CA.

    Every call reads afresh: exec plugins run again, token files are read again. kopf calls this on
    start-up, on a 401 and when ``expiration`` passes; the Client on a 401 and at expiration.
    ``expiration`` is the exec plugin's, else the token's own (``exp``, or the projected token's
    ``warnafter``) when it is a JWT not yet due: a service-account token, a ``tokenFile``'s, an OIDC
    id-token.
    """
    try:
        kube_config, incluster_config = kubelogin.config_modules()
    except ImportError as err:
        raise kopf.LoginError(f"the kubernetes package is needed to log in: {err}") from err
    paths = _kubeconfig_paths()
    if paths:
        where = f"kubeconfig {os.pathsep.join(paths)}"
        try:
            return _from_kubeconfig(kube_config, paths)
        except (kube_config.ConfigException, OSError, yaml.YAMLError) as err:
            raise kopf.LoginError(f"{where}: {err}") from err
    token = os.path.join(SERVICE_ACCOUNT_DIR, "token")
    if not os.path.exists(token):
        raise kopf.LoginError(f"no kubeconfig (KUBECONFIG is not set and {DEFAULT_KUBECONFIG} does not exist) "
                              f"and no service account token ({token})")
    try:
        return _from_service_account(incluster_config, kube_config.Configuration)
    except (incluster_config.ConfigException, OSError) as err:
        raise kopf.LoginError(f"service account {SERVICE_ACCOUNT_DIR}: {err}") from err


def _kubeconfig_paths() -> list[str]:
    """The kubeconfig files to merge: ``KUBECONFIG``'s (every one must exist), else the default one if it
    exists, else none."""
    listed = os.environ.get("KUBECONFIG", "")
    if listed.strip():
        paths = [os.path.expanduser(p.strip()) for p in listed.split(os.pathsep) if p.strip()]
        missing = [p for p in paths if not os.path.isfile(p)]
        if missing:
            raise kopf.LoginError(f"KUBECONFIG names {', '.join(missing)}: no such file")
        return paths
    default = os.path.expanduser(DEFAULT_KUBECONFIG)
    return [default] if os.path.isfile(default) else []


def _from_kubeconfig(kube_config: Any, paths: list[str]) -> kopf.ConnectionInfo:
    merged = kube_config.KubeConfigMerger(os.pathsep.join(paths))
    if merged.config is None:
        raise kube_config.ConfigException("no configuration found")
    loader = kube_config.KubeConfigLoader(config_dict=merged.config, config_base_path=None,
                                          config_persister=lambda: _save_refreshed(merged))
    config = kube_config.Configuration(proxy="")  # proxy="": no proxy from the environment, as kopf
    with _errors_logged_here() as errors:
        loader.load_and_set(config)
    server = getattr(loader, "host", None)  # set only when the cluster names a server
    if not server:
        raise kube_config.ConfigException("the current context's cluster has no server")
    scheme, token = _authorization(config.api_key.get("BearerToken"))
    user = getattr(loader, "_user", None) or {}
    if "exec" in user and not token and not config.cert_file:  # the loader logs a failed plugin, no more
        command = user["exec"].safe_get("command")
        raise kube_config.ConfigException(
            f"the exec plugin {command!r} gave no credentials: {'; '.join(errors) or 'see the log above'}")
    proxy = config.proxy or None
    if proxy and urlsplit(proxy).scheme not in ("http", "https"):
        raise kube_config.ConfigException(f"proxy-url {proxy}: only http:// and https:// proxies are supported")
    if config.tls_server_name:
        log.warning("the kubeconfig's tls-server-name %s is ignored: the certificate must name %s",
                    config.tls_server_name, server)
    return kopf.ConnectionInfo(
        server=server,
        ca_path=config.ssl_ca_cert or None,  # a temporary file when the kubeconfig has the data
        insecure=not config.verify_ssl,
        scheme=scheme,
        token=token,
        certificate_path=config.cert_file or None,
        private_key_path=config.key_file or None,
        default_namespace=loader.current_context["context"].get("namespace") or None,
        proxy_url=proxy,
        expiration=_in_future(getattr(loader, "expiry", None)) or _in_future(_jwt_expiry(token)),
    )


def _from_service_account(incluster_config: Any, configuration: Any) -> kopf.ConnectionInfo:
    environ = dict(os.environ)
    if not environ.get(incluster_config.SERVICE_HOST_ENV_NAME):  # a pod without the service's variables
        environ[incluster_config.SERVICE_HOST_ENV_NAME] = "kubernetes.default.svc"
    if not environ.get(incluster_config.SERVICE_PORT_ENV_NAME):
        environ[incluster_config.SERVICE_PORT_ENV_NAME] = "443"
    loader = incluster_config.InClusterConfigLoader(
        token_filename=os.path.join(SERVICE_ACCOUNT_DIR, "token"),
        cert_filename=os.path.join(SERVICE_ACCOUNT_DIR, "ca.crt"),
        try_refresh_token=False, environ=environ)  # read again on every login instead
    config = configuration(proxy="")
    loader.load_and_set(config)
    scheme, token = _authorization(config.api_key.get("BearerToken"))
    return kopf.ConnectionInfo(server=config.host, ca_path=config.ssl_ca_cert, scheme=scheme, token=token,
                               default_namespace=service_account_namespace(),
                               expiration=_in_future(_jwt_expiry(token)))


def service_account_namespace() -> str | None:
    """The pod's namespace, as its service account's mount says; None outside a pod."""
    with suppress(OSError), open(os.path.join(SERVICE_ACCOUNT_DIR, "namespace"), encoding="utf-8") as f:
        return f.read().strip() or None
    return None


def _save_refreshed(merged: Any) -> None:
    """Writes a refreshed OIDC (or GCP) token back into the kubeconfig, as kubectl does: the identity
    provider may have rotated the refresh token. A read-only kubeconfig (a mounted Secret) is left
    as it is: the next login refreshes again."""
    try:
        merged.save_changes()
    except OSError as err:
        log.warning("could not write the refreshed token back to the kubeconfig: %s", err)


def _authorization(header: str | None) -> tuple[str | None, str | None]:
    """``Bearer abc`` (or ``bearer abc\\n`` from a token file, or ``Basic ...``) as (scheme, token)."""
    parts = (header or "").strip().split(None, 1)
    if len(parts) < 2:
        return None, parts[0] if parts else None
    return parts[0].capitalize(), parts[1].strip()


def _jwt_expiry(token: str | None) -> datetime | None:
    """When a JWT (service-account and OIDC tokens are JWTs) is due for replacement, else None: its
    ``exp``, or its ``kubernetes.io.warnafter`` if earlier. A pod's projected token carries that one
    when the API server extends the token's life (to a year, by default): the kubelet writes a new
    token before then, and the API server flags requests with the old one after it."""
    parts = (token or "").split(".")
    if len(parts) != 3:
        return None
    try:
        claims = json.loads(base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4)))
        due = float(claims["exp"])
        warn_after = (claims.get("kubernetes.io") or {}).get("warnafter")
        if warn_after is not None:
            due = min(due, float(warn_after))
        return datetime.fromtimestamp(due, UTC)
    except (ValueError, KeyError, TypeError, AttributeError, OverflowError):
        return None


def _in_future(moment: datetime | None) -> datetime | None:
    """``moment`` if it is still to come. kopf would re-login in a loop on an expiration already past;
    a token that expired is rather left to the API server's 401."""
    if moment is None:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment if moment > datetime.now(UTC) else None


@contextmanager
def _errors_logged_here() -> Iterator[list[str]]:
    """The messages the kubernetes package logs at ERROR on this thread meanwhile: its kubeconfig loader
    logs a failing exec plugin and carries on without credentials."""
    messages: list[str] = []
    thread = threading.get_ident()

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            if record.thread == thread:
                messages.append(record.getMessage())

    handler = Collect(logging.ERROR)
    logging.getLogger().addHandler(handler)
    try:
        yield messages
    finally:
        logging.getLogger().removeHandler(handler)


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


def _pool(info: kopf.ConnectionInfo, **options: Any) -> urllib3.PoolManager:
    """A pool to the API server; through the kubeconfig's ``proxy-url`` when it has one (a CONNECT
    tunnel for https, with the proxy's credentials from the URL)."""
    if info.server.startswith("https:"):
        options["ssl_context"] = _ssl_context(info)
    if not info.proxy_url:
        return urllib3.PoolManager(**options)
    proxy = urlsplit(info.proxy_url)
    proxy_headers = None
    if proxy.username is not None:
        auth = f"{unquote(proxy.username)}:{unquote(proxy.password or '')}"
        proxy_headers = urllib3.make_headers(proxy_basic_auth=auth)
    return urllib3.ProxyManager(info.proxy_url, proxy_headers=proxy_headers, **options)


@dataclass(frozen=True)
class _Login:
    """One login's server, headers and pool, replaced as a whole (threads read it without a lock)."""

    server: str
    headers: dict[str, str]
    pool: urllib3.PoolManager
    expiration: datetime | None

    def expired(self) -> bool:
        return self.expiration is not None and datetime.now(UTC) >= self.expiration


class Client:
    """A pool of connections to the API server, shared by all worker threads.

    On a 401, and once the credentials' expiration has passed, they are read again (one thread logs
    in, the others wait for it) and the request is retried once: the kubelet rotates service-account
    tokens, an exec plugin's tokens expire, a ``tokenFile`` is rewritten.
    """

    def __init__(self, pool_size: int = 16, timeout: urllib3.Timeout = REQUEST_TIMEOUT,
                 retries: urllib3.Retry = RETRIES) -> None:
        self.pool_size, self.timeout, self.retries = pool_size, timeout, retries
        self._login_lock = threading.Lock()
        self._login()

    @property
    def pool(self) -> urllib3.PoolManager:
        return self._current.pool

    def _login(self) -> None:
        info = credentials()
        headers = {"User-Agent": user_agent(), "Accept": "application/json", **info.as_http_headers()}
        pool = _pool(info, num_pools=2, maxsize=self.pool_size, block=True, retries=self.retries,
                     timeout=self.timeout)
        expiration = info.expiration.replace(tzinfo=info.expiration.tzinfo or UTC) if info.expiration else None
        self._current = _Login(info.server.rstrip("/"), headers, pool, expiration)

    def _login_again(self, seen: _Login) -> _Login:
        """Logs in again unless another thread already did since ``seen``; the login now current."""
        with self._login_lock:
            if self._current is seen:
                self._login()
            return self._current

    def request(self, method: str, path: str, body: Any = None, query: dict[str, str] | None = None,
                content_type: str = "application/json", *, accept: str = "application/json") -> Any:
        """One request; JSON in and out. Raises ApiError on any status outside 2xx."""
        target = path + (f"?{urlencode(query)}" if query else "")
        payload = json.dumps(body).encode() if body is not None else None
        login = self._current
        if login.expired():
            login = self._login_again(login)
        headers = {"Content-Type": content_type, "Accept": accept}
        response = self._send(login, method, target, payload, headers)
        if response.status == 401:
            response = self._send(self._login_again(login), method, target, payload, headers)
        if not 200 <= response.status < 300:
            raise ApiError(response.status, response.reason or "", response.data.decode(errors="replace"),
                           retry_after=_retry_after(response.headers.get("Retry-After")))
        return json.loads(response.data) if response.data else {}

    @staticmethod
    def _send(login: _Login, method: str, target: str, payload: bytes | None,
              headers: dict[str, str]) -> urllib3.BaseHTTPResponse:
        return login.pool.request(method, login.server + target, body=payload, headers={**login.headers, **headers})


def _retry_after(value: str | None) -> float | None:
    """Retry-After in seconds (the API server sends an integer; an HTTP date is not used by it)."""
    try:
        seconds = float(value) if value is not None else None
    except ValueError:
        return None
    return seconds if seconds is not None and seconds >= 0 else None


def pod_name() -> str:
    """This replica's name: POD_NAME (the chart sets it from the pod's name), else the host name."""
    return os.environ.get("POD_NAME") or socket.gethostname()


def user_agent() -> str:
    """``microservice-operator/VERSION (POD)``: audit logs tell the replicas apart by pod name."""
    return f"{USER_AGENT} ({pod_name()})"


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

    def live_names(self, api_version: str, kind: str, namespace: str, selector: str) -> set[str] | None:
        """The names of the objects of ``kind`` matching ``selector`` in ``namespace``, from a consistent
        (quorum) list; None when the kind is not served. Asked as a Table without objects, the API
        server sends one short row per object (no spec, no managedFields), in pages of 500."""
        names: set[str] = set()
        query = {"labelSelector": selector, "limit": "500", "includeObject": "None"}
        while True:
            try:
                page = self.client.request("GET", object_path(api_version, kind, namespace), query=query,
                                           accept=TABLE)
            except ApiError as err:
                if err.status == 404:
                    return None
                raise
            name_column = next((i for i, c in enumerate(page.get("columnDefinitions") or [])
                                if c.get("name") == "Name"), 0)
            names.update(str(row["cells"][name_column]) for row in page.get("rows") or [])
            token = (page.get("metadata") or {}).get("continue")
            if not token:
                return names
            query = {**query, "continue": token}

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
