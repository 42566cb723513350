"""Every call the operator makes to the Kubernetes API.

Writes are server-side applies with field manager ``microservice-operator``: the operator states
the fields it owns, the API server merges, and fields it stops sending are removed. The client is
the synchronous official one, so these functions run in worker threads, never on kopf's event loop.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from datetime import UTC, datetime
from typing import Any

from kubernetes import client, config
from kubernetes.client.exceptions import ApiException

from .api import API_VERSION, KIND, PLURAL
from .resources.common import FIELD_MANAGER

log = logging.getLogger(__name__)

USER_AGENT = "microservice-operator/0.1.0"
APPLY_CONTENT_TYPE = "application/apply-patch+yaml"  # JSON is YAML; the client sends dicts as JSON
_PLURALS = {"Deployment": "deployments", "Service": "services", "HTTPRoute": "httproutes", KIND: PLURAL,
            "Event": "events"}


class ResourceUnavailable(Exception):
    """The API server does not serve this kind (for example, the Gateway API CRDs are not installed)."""


def load_client(kubeconfig: str | None = None, pool_size: int = 16) -> client.ApiClient:
    """An API client from a kubeconfig (``KUBECONFIG`` or ~/.kube/config) or the in-cluster account."""
    cfg = client.Configuration()
    if kubeconfig or os.environ.get("KUBECONFIG") or os.path.exists(os.path.expanduser("~/.kube/config")):
        config.load_kube_config(config_file=kubeconfig, client_configuration=cfg)
    else:
        config.load_incluster_config(client_configuration=cfg)
    cfg.connection_pool_maxsize = pool_size
    api = client.ApiClient(cfg)
    api.user_agent = USER_AGENT  # the apiserver's audit log attributes requests by it
    return api


def object_path(api_version: str, kind: str, namespace: str, name: str | None = None) -> str:
    """The REST path of a namespaced object (or of its collection when ``name`` is None)."""
    prefix = f"/api/{api_version}" if "/" not in api_version else f"/apis/{api_version}"
    path = f"{prefix}/namespaces/{namespace}/{_PLURALS[kind]}"
    return f"{path}/{name}" if name else path


class Kube:
    """The API calls, over one pooled client shared by all worker threads."""

    def __init__(self, api: client.ApiClient) -> None:
        self.api = api
        self._known_missing: dict[str, float] = {}
        self._known_served: set[str] = set()
        self._lock = threading.Lock()

    def _call(self, method: str, path: str, body: Any = None, query: list[tuple[str, str]] | None = None,
              content_type: str = "application/json") -> Any:
        """One request; JSON in and out. Raises ApiException on any status outside 2xx."""
        method, url, headers, payload, _ = self.api.param_serialize(
            method, path, query_params=query or [], body=body, auth_settings=["BearerToken"],
            header_params={"Content-Type": content_type, "Accept": "application/json"},
        )
        response = self.api.call_api(method, url, header_params=headers, body=payload, _request_timeout=30)
        data = response.read()
        if not 200 <= response.status < 300:
            raise ApiException(http_resp=response)
        return json.loads(data) if data else {}

    def apply(self, obj: dict[str, Any], subresource: str = "") -> dict[str, Any]:
        """Server-side applies ``obj`` (or its status, with ``subresource='status'``)."""
        meta = obj["metadata"]
        path = object_path(obj["apiVersion"], obj["kind"], meta["namespace"], meta["name"])
        if subresource:
            path += f"/{subresource}"
        query = [("fieldManager", FIELD_MANAGER), ("force", "true")]
        try:
            result: dict[str, Any] = self._call("PATCH", path, obj, query, APPLY_CONTENT_TYPE)
        except ApiException as err:
            if err.status == 404 and not subresource:
                self._mark_missing(obj["apiVersion"])
                raise ResourceUnavailable(f"{obj['kind']} ({obj['apiVersion']}) is not served") from err
            raise
        return result

    def delete(self, obj: dict[str, Any]) -> None:
        """Deletes an observed object, only if it is still the same object (uid precondition)."""
        meta = obj["metadata"]
        path = object_path(obj["apiVersion"], obj["kind"], meta["namespace"], meta["name"])
        body = {"kind": "DeleteOptions", "apiVersion": "v1", "propagationPolicy": "Background",
                "preconditions": {"uid": meta.get("uid")} if meta.get("uid") else None}
        try:
            self._call("DELETE", path, body)
        except ApiException as err:
            if err.status not in (404, 409):
                raise

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
            found = self._call("GET", f"/apis/{api_version}")
        except ApiException as err:
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
            self._call("POST", object_path("v1", "Event", meta["namespace"]), event)
        except ApiException as err:  # an event is worth a log line, never a failed reconcile
            log.warning("could not post event %s on %s/%s: %s", reason, meta["namespace"], meta["name"], err.reason)
