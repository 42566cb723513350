"""Leader election on a coordination.k8s.io/v1 Lease, as client-go's leaderelection does it.

Every replica runs kopf's watches (so a standby's caches are warm), but only the holder of the Lease
runs reconciles and writes. The holder renews the Lease every ``retry`` seconds; it stops acting
once it could not renew for ``renew_deadline`` seconds. A standby takes the Lease when it has seen
no renewal for ``duration`` seconds, measured on its own clock from the moment it last saw the Lease
change (never from the holder's timestamps, so clock skew between nodes does not matter). Since
``renew_deadline < duration``, a holder that lost contact has stopped before anyone else starts.
A holder that stops cleanly gives the Lease up, so the standby takes over at its next try.

The loop runs in its own thread: the API calls block, and kopf's event loop must not.
"""

from __future__ import annotations

import logging
import os
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import urllib3

from .k8s import ApiError, Client, pod_name, service_account_namespace

log = logging.getLogger(__name__)
LEASES = "/apis/coordination.k8s.io/v1/namespaces/{namespace}/leases"
# A Lease request must end well within the renew deadline: short timeouts, no urllib3 retries.
LEASE_TIMEOUT = urllib3.Timeout(connect=2, read=3)
LEASE_RETRIES = urllib3.Retry(total=0, redirect=0, status=0, respect_retry_after_header=False)


def identity() -> str:
    """This replica in the Lease: its pod name (or host name) and a random part, as client-go makes it."""
    return f"{pod_name()}_{uuid.uuid4().hex[:8]}"


def default_namespace() -> str:
    """Where the Lease lives: POD_NAMESPACE, the service account's namespace in a pod, else ``default``."""
    return os.environ.get("POD_NAMESPACE") or service_account_namespace() or "default"


@dataclass(frozen=True)
class Timing:
    duration: float = 10.0  # a Lease not renewed for this long may be taken
    renew_deadline: float = 7.0  # the holder stops acting when it could not renew for this long
    retry: float = 2.0  # how often the holder renews and a standby tries


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class LeaderElector:
    """Holds or waits for the Lease ``namespace/name`` as ``identity``; tells ``on_change(leading)``."""

    def __init__(self, client: Client, lease: tuple[str, str], identity: str,
                 on_change: Callable[[bool], None], timing: Timing = Timing()) -> None:
        namespace, name = lease
        self.client, self.namespace, self.name, self.identity = client, namespace, name, identity
        self.on_change, self.timing = on_change, timing
        self.leading = False
        self._stop = threading.Event()
        self._seen: tuple[str, float] | None = None  # the Lease's resourceVersion, and when we saw it change
        self._renewed = 0.0  # monotonic time of our last successful renewal
        self._thread = threading.Thread(target=self._run, name="leader-election", daemon=True)

    @property
    def _path(self) -> str:
        return LEASES.format(namespace=self.namespace)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        """Stops trying; a holder gives the Lease up so that a standby takes over at once."""
        self._stop.set()
        self._thread.join(timeout=self.timing.retry + 5)
        if self.leading:
            self._set_leading(False)
            self._release()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self._try()
            except Exception as err:  # never let the thread die: an API hiccup is retried
                log.warning("leader election: %s: %s", type(err).__name__, err)
            if self.leading and time.monotonic() - self._renewed > self.timing.renew_deadline:
                log.error("leader election: could not renew Lease %s/%s for %.0fs; stopping reconciles",
                          self.namespace, self.name, self.timing.renew_deadline)
                self._set_leading(False)
            self._stop.wait(self.timing.retry)

    def _try(self) -> None:
        try:
            lease = self.client.request("GET", f"{self._path}/{self.name}")
        except ApiError as err:
            if err.status != 404:
                raise
            self._write(None)
            return
        spec = lease.get("spec") or {}
        rv = lease["metadata"]["resourceVersion"]
        if self._seen is None or self._seen[0] != rv:
            self._seen = (rv, time.monotonic())
        holder = spec.get("holderIdentity") or ""
        expired = time.monotonic() - self._seen[1] > float(spec.get("leaseDurationSeconds") or self.timing.duration)
        if holder == self.identity or not holder or expired:
            self._write(lease)
        elif self.leading:  # someone else holds it: we must not act
            self._set_leading(False)

    def _write(self, lease: dict[str, Any] | None) -> None:
        """Creates the Lease, or renews or takes it (an update with the read resourceVersion: if another
        replica wrote in between, the API server answers 409 and this try is lost)."""
        spec = dict((lease or {}).get("spec") or {})
        taking = spec.get("holderIdentity") != self.identity
        now = _now()
        spec.update(holderIdentity=self.identity, leaseDurationSeconds=int(self.timing.duration), renewTime=now)
        if taking:
            spec.update(acquireTime=now, leaseTransitions=int(spec.get("leaseTransitions") or 0) + (lease is not None))
        body = {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
                "metadata": {"name": self.name, "namespace": self.namespace,
                             **({"resourceVersion": lease["metadata"]["resourceVersion"]} if lease else {})},
                "spec": spec}
        try:
            written = (self.client.request("PUT", f"{self._path}/{self.name}", body) if lease
                       else self.client.request("POST", self._path, body))
        except ApiError as err:
            if err.status in (409, 422):  # another replica won this round
                return
            raise
        self._seen = (written["metadata"]["resourceVersion"], time.monotonic())
        self._renewed = time.monotonic()
        if taking:
            log.info("leader election: %s now holds Lease %s/%s", self.identity, self.namespace, self.name)
        if not self.leading:
            self._set_leading(True)

    def _release(self) -> None:
        try:
            lease = self.client.request("GET", f"{self._path}/{self.name}")
            if (lease.get("spec") or {}).get("holderIdentity") != self.identity:
                return
            lease["spec"] = {**lease["spec"], "holderIdentity": "", "leaseDurationSeconds": 1}
            self.client.request("PUT", f"{self._path}/{self.name}", lease)
            log.info("leader election: gave up Lease %s/%s", self.namespace, self.name)
        except (ApiError, OSError) as err:
            log.warning("leader election: could not give up the Lease: %s", err)

    def _set_leading(self, leading: bool) -> None:
        self.leading = leading
        self.on_change(leading)
