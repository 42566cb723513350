"""Runs reconciles: one key at a time per object, on worker threads, fed by watch events and timers.

read (snapshot of the watch caches, in the event loop) -> decide (:func:`plan.plan`, pure) ->
apply (server-side apply in a worker thread) -> status (written only when it changed).
"""

from __future__ import annotations

import asyncio
import logging
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from urllib3.exceptions import HTTPError

from .api import API_VERSION, KIND, Strategy
from .k8s import ApiError, Kube, ResourceUnavailable
from .plan import Observed, Plan, ident, plan, tracks_to_read
from .resources import shapes
from .resources.common import LABEL_MANAGED_BY, LABEL_MICROSERVICE, LABEL_TRACK, MANAGED_BY
from .resources.httproute import HTTPROUTE_API_VERSION
from .workqueue import WorkQueue

log = logging.getLogger(__name__)

Key = tuple[str, str]  # (namespace, name) of a Microservice
UNAVAILABLE_RECHECK = 5.0
# What the caches hold is compared with the API's truth this often (see Controller.heal).
OWNED_SELECTOR = f"{LABEL_MANAGED_BY}={MANAGED_BY},{LABEL_MICROSERVICE}"
CHILD_KINDS = (("apps/v1", "Deployment"), ("v1", "Service"), (HTTPROUTE_API_VERSION, "HTTPRoute"))
CONFLICT_RECHECK = 30.0  # a name taken by another object: look again, it may have been removed
MAX_BACKOFF = 60.0  # a transient API failure heals within a minute


@dataclass
class Snapshot:
    """What the watch caches hold for one Microservice and its children."""

    body: dict[str, Any] | None
    children: list[dict[str, Any]] = field(default_factory=list)
    # Children's names the caches show owned by another Microservice, "Kind name" -> "Microservice other".
    claimed: dict[str, str] = field(default_factory=dict)


class Source(Protocol):
    """The watch caches (kopf indexes in production)."""

    def snapshot(self, key: Key) -> Snapshot: ...

    def all_keys(self) -> list[Key]: ...

    def child_names(self) -> dict[str, dict[Key, dict[str, str]]]:
        """The cached children's names and uids, by kind, then by Microservice."""
        ...


@dataclass
class Outcome:
    written: list[dict[str, Any]] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)  # uids
    retry_after: float | None = None
    plan: Plan | None = None
    rejected: bool = False  # the API server refused a child: retried with backoff, like a failure


def _rv(obj: dict[str, Any]) -> int:
    try:
        return int(obj["metadata"]["resourceVersion"])
    except (KeyError, TypeError, ValueError):
        return 0


def _identity(obj: dict[str, Any]) -> tuple[str, str, str]:
    meta = obj["metadata"]
    return obj.get("kind", ""), meta.get("namespace", ""), meta["name"]


class Freshness:
    """Our own writes, per Microservice, until the watch caches catch up with them.

    A reconcile that starts before the watch event of the previous one's write arrives would see
    the old object and write again; overlaying what we wrote avoids that duplicate request.
    """

    def __init__(self) -> None:
        self._written: dict[Key, dict[tuple[str, str, str], dict[str, Any]]] = {}
        self._deleted: dict[Key, set[str]] = {}

    def record(self, key: Key, outcome: Outcome) -> None:
        if outcome.written:
            mine = self._written.setdefault(key, {})
            for obj in outcome.written:
                shape = shapes.BY_KIND.get(obj.get("kind", ""))
                mine[_identity(obj)] = shapes.project(obj, shape) if shape else obj
        if outcome.deleted:
            self._deleted.setdefault(key, set()).update(outcome.deleted)

    def overlay(self, key: Key, snap: Snapshot) -> Snapshot:
        mine = self._written.get(key, {})
        deleted = self._deleted.get(key, set())
        body = _newer(mine, snap.body) if snap.body is not None else None
        children, seen = [], set()
        for child in snap.children:
            if child["metadata"].get("uid") in deleted:
                continue
            seen.add(_identity(child))
            children.append(_newer(mine, child))
        children += [obj for ident, obj in mine.items() if ident[0] != KIND and ident not in seen]
        deleted.intersection_update(c["metadata"].get("uid") for c in snap.children)
        if not mine:
            self._written.pop(key, None)
        if not deleted:
            self._deleted.pop(key, None)
        return Snapshot(body, children, snap.claimed)

    def forget(self, key: Key) -> None:
        self._written.pop(key, None)
        self._deleted.pop(key, None)


def _newer(mine: dict[tuple[str, str, str], dict[str, Any]], seen: dict[str, Any]) -> dict[str, Any]:
    """What the cache saw, unless what we wrote is newer; drops our copy once the cache caught up."""
    ident = _identity(seen)
    written = mine.get(ident)
    if written is None:
        return seen
    if _rv(seen) >= _rv(written):
        del mine[ident]
        return seen
    return written


def observed_from(children: list[dict[str, Any]]) -> Observed:
    """Sorts the children of one Microservice by kind."""
    observed = Observed()
    for child in children:
        kind, meta = child.get("kind"), child["metadata"]
        if kind == "Deployment" and LABEL_TRACK in (meta.get("labels") or {}):
            observed.deployments[meta["labels"][LABEL_TRACK]] = child
        elif kind == "Service":
            observed.services[meta["name"]] = child
        elif kind == "HTTPRoute":
            observed.routes[meta["name"]] = child
    return observed


class Hooks(Protocol):
    """Told about every reconcile (the metrics module is one)."""

    def observe(self, key: Key, plan: Plan | None, seconds: float) -> None: ...

    def forget(self, key: Key) -> None: ...


class Controller:
    def __init__(self, kube: Kube, source: Source, workers: int = 8, resync_seconds: float = 300.0, *,
                 hooks: Hooks | None = None, heal_seconds: float = 60.0) -> None:
        self.kube = kube
        self.source = source
        self.workers = workers
        self.resync_seconds = resync_seconds
        self.heal_seconds = heal_seconds
        self.hooks = hooks
        self.queue = WorkQueue()
        self.freshness = Freshness()
        self._failures: dict[Key, int] = {}
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="reconcile")
        self._apply_pool = ThreadPoolExecutor(max_workers=workers * 2, thread_name_prefix="apply")
        self._tasks: list[asyncio.Task[None]] = []
        self._leading = asyncio.Event()  # reconciles run only while set (always, without leader election)
        self._leading.set()

    def enqueue(self, key: Key) -> None:
        self.queue.add(key)

    def set_leading(self, leading: bool) -> None:
        """Called on the event loop when this replica gains or loses the Lease (see leader.py).

        A standby keeps its caches and queue; once it leads, every Microservice is reconciled, so
        dwell timers resume from what status holds (healthTransitionTime, failover.since).
        """
        if leading and not self._leading.is_set():
            self._leading.set()
            for key in self.source.all_keys():
                self.queue.add(key)
        elif not leading:
            self._leading.clear()

    def start(self) -> None:
        self._tasks = [asyncio.create_task(self._work(), name=f"reconcile-{i}") for i in range(self.workers)]
        self._tasks.append(asyncio.create_task(self._resync(), name="resync"))
        self._tasks.append(asyncio.create_task(self._heal_every(), name="heal"))

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._pool.shutdown(wait=True, cancel_futures=True)
        self._apply_pool.shutdown(wait=True, cancel_futures=True)

    async def _resync(self) -> None:
        while True:
            await asyncio.sleep(self.resync_seconds)
            for key in self.source.all_keys():
                self.queue.add(key)

    async def _heal_every(self) -> None:
        while True:
            await asyncio.sleep(self.heal_seconds)
            if not self._leading.is_set():
                continue
            try:
                await self.heal()
            except (ApiError, HTTPError) as err:
                log.warning("comparing the caches with the API failed (%s); next try in %.0fs",
                            _describe(err), self.heal_seconds)

    async def heal(self) -> int:
        """Children the caches hold that the API no longer has: hidden, and their Microservices reconciled.

        kopf drops an object from its indexes only on a DELETED event. After a relist (410 Gone, an
        etcd compaction, an API server restart) the deletions made while disconnected never arrive,
        and such a phantom would stop its Microservice from recreating the child. The caches are read
        before the lists start, so a child created meanwhile is never taken for a phantom; the lists
        are of names only (one Table request per namespace and kind), so a heal costs little.
        Returns the number of Microservices reconciled for it.
        """
        cached = self.source.child_names()
        namespaces = sorted({key[0] for by_key in cached.values() for key in by_key})
        live = await asyncio.get_running_loop().run_in_executor(self._pool, self._live_names, namespaces)
        healed = 0
        for kind, by_key in cached.items():
            for key, names in by_key.items():
                truth = live.get((kind, key[0]))
                if truth is None:  # the kind is not served (no Gateway API): nothing to compare
                    continue
                gone = [uid for name, uid in names.items() if name not in truth]
                if gone:
                    log.info("%s/%s: %d cached %s(s) no longer exist; reconciling", *key, len(gone), kind)
                    self.freshness.record(key, Outcome(deleted=sorted(gone)))
                    self.queue.add(key)
                    healed += 1
        return healed

    def _live_names(self, namespaces: list[str]) -> dict[tuple[str, str], set[str] | None]:
        return {(kind, ns): self.kube.live_names(api_version, kind, ns, OWNED_SELECTOR)
                for api_version, kind in CHILD_KINDS for ns in namespaces}

    async def _work(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await self._leading.wait()
            key: Key = await self.queue.get()  # type: ignore[assignment]
            if not self._leading.is_set():  # lost the Lease while waiting: keep the key for later
                self.queue.done(key)
                self.queue.add(key)
                continue
            started = time.perf_counter()
            outcome: Outcome | None = None
            try:
                snap = self.freshness.overlay(key, self.source.snapshot(key))
                outcome = await loop.run_in_executor(self._pool, self.reconcile, key, snap)
                self.freshness.record(key, outcome)
                self._after(key, snap, outcome)
            except Exception as err:  # a reconcile error must never stop the worker
                self._retry(key, err)
            finally:
                self.queue.done(key)
                if self.hooks is not None:
                    self.hooks.observe(key, outcome.plan if outcome else None, time.perf_counter() - started)

    def _after(self, key: Key, snap: Snapshot, outcome: Outcome) -> None:
        backoff = None
        if outcome.rejected:
            backoff = self._backoff(key, None)
            log.warning("%s/%s: the API server refused a child; retrying in %.1fs", *key, backoff)
        else:
            self._failures.pop(key, None)
        if snap.body is None:
            self.queue.forget(key)
            self.freshness.forget(key)
            if self.hooks is not None:
                self.hooks.forget(key)
            return
        deadline = outcome.plan.next_deadline if outcome.plan else None
        delays = [d for d in (outcome.retry_after, backoff,
                              (deadline - datetime.now(UTC)).total_seconds() + 0.02 if deadline else None)
                  if d is not None]
        if delays:
            self.queue.add_after(key, min(delays))

    def _retry(self, key: Key, err: Exception) -> None:
        if _namespace_terminating(err):
            log.debug("%s/%s: namespace is being deleted; waiting for the object's deletion", *key)
            return
        delay = self._backoff(key, err)
        if isinstance(err, ApiError | HTTPError | ResourceUnavailable):
            log.warning("reconcile %s/%s failed (%s); retrying in %.1fs", *key, _describe(err), delay)
        else:
            log.exception("reconcile %s/%s failed unexpectedly; retrying in %.1fs", *key, delay)
        self.queue.add_after(key, delay)

    def _backoff(self, key: Key, err: Exception | None) -> float:
        """One more failure of ``key`` (an error, or a refused child): how long to wait before the next try."""
        failures = self._failures[key] = self._failures.get(key, 0) + 1
        return retry_delay(failures, err)

    def reconcile(self, key: Key, snap: Snapshot) -> Outcome:
        """The blocking part: plan, apply, delete, status, events. Runs in a worker thread."""
        body = snap.body
        if body is None:
            return Outcome()  # deleted: the garbage collector removes the children
        observed = observed_from(snap.children)
        observed.conflicts = dict(snap.claimed)
        strategy = ((body.get("spec") or {}).get("routing") or {}).get("strategy")
        if strategy == Strategy.GATEWAY_API.value:
            observed.route_api_available = self.kube.serves(HTTPROUTE_API_VERSION, "HTTPRoute")
        self._read_pods(body, observed)
        result = plan(body, observed, datetime.now(UTC))
        outcome = Outcome(plan=result)
        try:
            written = self._apply_all(result, observed)
        except ResourceUnavailable:
            observed.route_api_available = False
            result = plan(body, observed, datetime.now(UTC))
            written = self._apply_all(result, observed)
        outcome.written += written
        if observed.rejected or len(observed.conflicts) > len(snap.claimed):
            # The status and event say which child and why; nothing else is applied again.
            result = plan(body, observed, datetime.now(UTC))
        outcome.rejected = bool(observed.rejected)
        outcome.plan = result
        for deployment, replicas in result.scale:
            outcome.written.append(self.kube.scale(deployment, replicas))
        for obj in result.delete:
            self.kube.delete(obj)
            outcome.deleted.append(obj["metadata"].get("uid", ""))
        if not observed.route_api_available:
            outcome.retry_after = UNAVAILABLE_RECHECK
        elif observed.conflicts:
            outcome.retry_after = CONFLICT_RECHECK
        self._write_status(body, result, outcome)
        for event in result.events:
            self.kube.post_event(body, event.type, event.reason, event.message)
        return outcome

    def _read_pods(self, body: dict[str, Any], observed: Observed) -> None:
        """The pods of the tracks short of ready pods, in one list call (there is no pod watch)."""
        tracks = tracks_to_read(observed)
        if not tracks:
            return
        meta = body["metadata"]
        selector = f"{LABEL_MICROSERVICE}={meta['name']},{LABEL_TRACK} in ({','.join(sorted(tracks))})"
        for pod in self.kube.list_pods(meta["namespace"], selector):
            track = ((pod.get("metadata") or {}).get("labels") or {}).get(LABEL_TRACK)
            if track in tracks:
                observed.pods.setdefault(track, []).append(pod)
        for track in tracks:
            observed.pods.setdefault(track, [])

    def _apply_all(self, result: Plan, observed: Observed) -> list[dict[str, Any]]:
        """Applies one Microservice's changed children concurrently: one round trip, not one per child.

        Returns what was written; records in ``observed`` what the API server refused and the names
        found taken by an object of another owner.
        """
        def one(obj: dict[str, Any]) -> dict[str, Any] | ApiError:
            return self._apply_one(obj, create=ident(obj) in result.creates)

        objects = result.apply
        results = [one(obj) for obj in objects] if len(objects) <= 1 else list(self._apply_pool.map(one, objects))
        for i, obj in enumerate(objects):
            first = results[i]
            if isinstance(first, ApiError) and first.status == 409:
                owner, uid = self.kube.owner_of(obj)
                if uid is None or uid != _owner_uid(obj):
                    observed.conflicts[ident(obj)] = owner
                    continue
                results[i] = self._apply_one(obj, create=False)  # ours, only missing from the caches
            refused = results[i]
            if isinstance(refused, ApiError):
                observed.rejected[ident(obj)] = refused.message
        return [r for r in results if not isinstance(r, ApiError)]

    def _apply_one(self, obj: dict[str, Any], create: bool) -> dict[str, Any] | ApiError:
        """The applied object, or the API server's refusal of it (400 Bad Request, 422 Invalid), or,
        for a child believed new, its 409: an object of that name exists with another manager's fields."""
        try:
            return self.kube.apply(obj, force=not create)
        except ApiError as err:
            if err.status in (400, 422) or (create and err.status == 409):
                return err
            raise

    def _write_status(self, body: dict[str, Any], result: Plan, outcome: Outcome) -> None:
        if result.status == (body.get("status") or {}):
            return
        meta = body["metadata"]
        patch = {"apiVersion": API_VERSION, "kind": KIND,
                 "metadata": {"name": meta["name"], "namespace": meta["namespace"]}, "status": result.status}
        try:
            outcome.written.append(self.kube.apply(patch, subresource="status"))
        except ApiError as err:
            if err.status != 404:  # 404: deleted meanwhile, nothing to report on
                raise


def _owner_uid(obj: dict[str, Any]) -> str | None:
    refs = obj["metadata"].get("ownerReferences") or []
    return next((r.get("uid") for r in refs if r.get("controller")), None)


def retry_delay(failures: int, err: Exception | None) -> float:
    """Exponential backoff from 0.5 s, capped at MAX_BACKOFF; never sooner than the server's Retry-After."""
    delay: float = min(MAX_BACKOFF, 0.5 * 2.0 ** (failures - 1))
    if isinstance(err, ApiError) and err.retry_after is not None:
        delay = max(delay, min(err.retry_after, MAX_BACKOFF))
    return delay


def _namespace_terminating(err: Exception) -> bool:
    """Writes into a namespace being deleted are refused; the object goes with it, so do not retry."""
    return isinstance(err, ApiError) and err.status == 403 and "being terminated" in err.message


def _describe(err: Exception) -> str:
    """The API server's own message, e.g. 'HTTP 500: failed to allocate a serviceIP: range is full'."""
    if isinstance(err, ApiError):
        return str(err)
    return f"{type(err).__name__}: {err}"
