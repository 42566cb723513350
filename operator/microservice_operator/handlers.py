"""Thin kopf handlers: watch caches (kopf indexes) and events that enqueue a reconcile.

kopf gates every handler until all indexes hold their initial listing, so the first reconcile of
each Microservice already sees every child that exists: a restart re-applies nothing.
Only watching handlers are used, so kopf itself never patches the objects (no finalizers, no
progress annotations); every write is the controller's.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Mapping
from typing import Any

import kopf

from . import metrics
from .api import GROUP, PLURAL, VERSION
from .controller import CHILD_KINDS, OWNED_SELECTOR, Controller, Key, Snapshot
from .k8s import Kube, credentials, load_client
from .leader import LEASE_RETRIES, LEASE_TIMEOUT, LeaderElector, identity
from .resources import shapes
from .resources.common import LABEL_MANAGED_BY, LABEL_MICROSERVICE, MANAGED_BY
from .resources.httproute import GATEWAY_GROUP

log = logging.getLogger(__name__)
OWNED: Mapping[str, Any] = {LABEL_MANAGED_BY: MANAGED_BY, LABEL_MICROSERVICE: kopf.PRESENT}


class IndexSource:
    """Snapshots of kopf's indexes. Read only on the event loop, where kopf updates them."""

    def __init__(self) -> None:
        self.indexes: dict[str, kopf.Index[Any, Any]] = {}

    def snapshot(self, key: Key) -> Snapshot:
        found = list(self.indexes["microservice_index"].get(key, []))
        children = [shapes.unpack(c) for name in ("deployment_index", "service_index", "route_index")
                    if name in self.indexes for c in self.indexes[name].get(key, [])]
        body = shapes.unpack(found[0]) if found else None
        return Snapshot(body, children, self._claimed(key, body))

    def _claimed(self, key: Key, body: dict[str, Any] | None) -> dict[str, str]:
        """The names this Microservice's children would take that another Microservice's children hold
        (Microservice ``user`` track ``v1`` and Microservice ``user-v1`` both name a Service ``user-v1``)."""
        owners = self.indexes.get("owner_index")
        if body is None or owners is None:
            return {}
        namespace, name = key
        tracks = ((body.get("spec") or {}).get("tracks") or [])
        names = {name, *(f"{name}-{t.get('name')}" for t in tracks if isinstance(t, dict))}
        claimed = {}
        for _, kind in CHILD_KINDS:
            for child in names:
                others = sorted({owner for owner, _ in owners.get((kind, namespace, child), [])} - {name})
                if others:
                    claimed[f"{kind} {child}"] = f"Microservice {others[0]}"
        return claimed

    def child_names(self) -> dict[str, dict[Key, dict[str, str]]]:
        """From the owner index, which holds every cached child's name and uid: nothing to unpack."""
        result: dict[str, dict[Key, dict[str, str]]] = {}
        for (kind, namespace, child), holders in self.indexes.get("owner_index", {}).items():
            for owner, uid in holders:
                result.setdefault(kind, {}).setdefault((namespace, owner), {})[child] = uid
        return result

    def all_keys(self) -> list[Key]:
        return list(self.indexes["microservice_index"]) if "microservice_index" in self.indexes else []


class _State:
    """What the startup handler creates and the event handlers use."""

    controller: Controller | None = None
    elector: LeaderElector | None = None


source = IndexSource()
state = _State()


def _packed(body: kopf.Body, shape: shapes.Shape, kind: str, api_version: str) -> str:
    """A watched object projected onto the fields the operator reads (resources/shapes.py), as JSON.

    Each watch event brings a new dict that kopf never mutates, so the projection may share its leaves;
    packing it lets the event's dict go, and the cache holds a tenth of the memory.
    """
    projected: dict[str, Any] = shapes.project(dict(body), shape)
    projected.setdefault("kind", kind)
    projected.setdefault("apiVersion", api_version)
    return shapes.pack(projected)


def _enqueue(key: Key) -> None:
    if state.controller is not None:
        state.controller.enqueue(key)


@kopf.index(GROUP, VERSION, PLURAL)
def microservice_index(namespace: str | None, name: str, body: kopf.Body, **_: Any) -> dict[Key, str]:
    return {(namespace or "", name): _packed(body, shapes.MICROSERVICE, "Microservice", f"{GROUP}/{VERSION}")}


@kopf.index("apps", "v1", "deployments", labels=OWNED)
def deployment_index(namespace: str | None, labels: kopf.Labels, body: kopf.Body, **_: Any) -> dict[Key, str]:
    return {(namespace or "", labels[LABEL_MICROSERVICE]): _packed(body, shapes.DEPLOYMENT, "Deployment", "apps/v1")}


@kopf.index("", "v1", "services", labels=OWNED)
def service_index(namespace: str | None, labels: kopf.Labels, body: kopf.Body, **_: Any) -> dict[Key, str]:
    return {(namespace or "", labels[LABEL_MICROSERVICE]): _packed(body, shapes.SERVICE, "Service", "v1")}


@kopf.index(GATEWAY_GROUP, "v1", "httproutes", labels=OWNED)
def route_index(namespace: str | None, labels: kopf.Labels, body: kopf.Body, **_: Any) -> dict[Key, str]:
    return {(namespace or "", labels[LABEL_MICROSERVICE]): _packed(body, shapes.HTTPROUTE, "HTTPRoute",
                                                                 f"{GATEWAY_GROUP}/v1")}


@kopf.index("apps", "v1", "deployments", labels=OWNED, id="owner_index")
@kopf.index("", "v1", "services", labels=OWNED, id="owner_index")
@kopf.index(GATEWAY_GROUP, "v1", "httproutes", labels=OWNED, id="owner_index")
def owner_index(namespace: str | None, name: str, uid: str | None, labels: kopf.Labels, body: kopf.Body,
                **_: Any) -> dict[tuple[str, str, str], tuple[str, str]]:
    """Which Microservice holds each child name (another one's children must not be taken over), and
    the child's uid (what the heal hides when the API no longer has it)."""
    return {(str(body.get("kind", "")), namespace or "", name): (labels[LABEL_MICROSERVICE], str(uid))}


@kopf.on.event(GROUP, VERSION, PLURAL)
async def microservice_changed(namespace: str | None, name: str, **_: Any) -> None:
    _enqueue((namespace or "", name))


@kopf.on.event("apps", "v1", "deployments", labels=OWNED)
@kopf.on.event("", "v1", "services", labels=OWNED)
@kopf.on.event(GATEWAY_GROUP, "v1", "httproutes", labels=OWNED)
async def child_changed(namespace: str | None, labels: kopf.Labels, **_: Any) -> None:
    _enqueue((namespace or "", labels[LABEL_MICROSERVICE]))


@kopf.on.login()
def login(**_: Any) -> kopf.ConnectionInfo:
    """The same credentials as the operator's own client (the ``kubernetes`` package's config loaders,
    loaded alone: see kubelogin.py), so kopf's own logins are never used."""
    return credentials()


def _elect(memo: kopf.Memo, controller: Controller) -> LeaderElector | None:
    """Starts leader election when ``run --leader-elect`` asked for it (memo.lease = (namespace, name))."""
    lease = getattr(memo, "lease", None)
    if lease is None:
        return None
    loop = asyncio.get_running_loop()
    controller.set_leading(False)
    client = load_client(pool_size=2, timeout=LEASE_TIMEOUT, retries=LEASE_RETRIES)

    def tell(leading: bool) -> None:  # from the election thread to the event loop
        loop.call_soon_threadsafe(controller.set_leading, leading)

    elector = LeaderElector(client, lease, identity(), tell)
    elector.start()
    log.info("leader election on Lease %s/%s as %s", lease[0], lease[1], elector.identity)
    return elector


@kopf.on.startup()
async def start(settings: kopf.OperatorSettings, memo: kopf.Memo, **kwargs: Any) -> None:
    settings.posting.level = logging.WARNING
    settings.watching.server_timeout = 300
    settings.networking.request_timeout = 60
    settings.persistence.finalizer = "microservice-operator.io/kopf-finalizer"
    # Filter owned kinds on the server: without it kopf decodes every Deployment and Service event
    # in the cluster, ours or not, only to drop them in the handlers' label filters.
    for resource in (("apps", "v1", "deployments"), ("", "v1", "services"), (GATEWAY_GROUP, "v1", "httproutes")):
        settings.watching.label_selectors[resource] = OWNED_SELECTOR
    # kopf passes every index to every handler, activities included: keep them for the snapshots.
    for name in ("microservice_index", "deployment_index", "service_index", "route_index", "owner_index"):
        source.indexes[name] = kwargs[name]
    workers = int(os.environ.get("MSO_WORKERS", "8"))
    kube = Kube(load_client(pool_size=workers * 3 + 2))  # reconcile threads, their applies, spare
    state.controller = Controller(kube, source, workers=workers,
                            resync_seconds=float(os.environ.get("MSO_RESYNC_SECONDS", "300")),
                            hooks=metrics, heal_seconds=float(os.environ.get("MSO_HEAL_SECONDS", "60")))
    state.elector = _elect(memo, state.controller)
    state.controller.start()
    log.info("microservice-operator started with %d workers", workers)


@kopf.on.cleanup()
async def stop(**_: Any) -> None:
    if state.elector is not None:  # give the Lease up first, so that a standby takes over at once
        await asyncio.get_running_loop().run_in_executor(None, state.elector.stop)
        state.elector = None
    if state.controller is not None:
        await state.controller.stop()
