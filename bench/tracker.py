"""Watches a namespace's Microservices and Deployments, and times when a condition first holds.

Convergence is observed through watch events, not polling, for the operator and the floor alike,
so both are measured by the same clock and the same path.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from kubernetes import client, watch

State = dict[str, dict[str, dict[str, Any]]]  # kind -> name -> object


class Tracker:
    def __init__(self, api: client.ApiClient, namespace: str) -> None:
        self.namespace = namespace
        self.state: State = {"ms": {}, "deploy": {}}
        self._cond = threading.Condition()
        self._stop = threading.Event()
        self._threads = [
            threading.Thread(target=self._watch, args=("ms", self._list_ms(api)), daemon=True),
            threading.Thread(target=self._watch, args=("deploy", self._list_deploy(api)), daemon=True),
        ]
        for thread in self._threads:
            thread.start()

    def _list_ms(self, api: client.ApiClient) -> Callable[..., Any]:
        custom = client.CustomObjectsApi(api)

        def list_ms(**kw: Any) -> Any:
            return custom.list_namespaced_custom_object("microservice-operator.io", "v1alpha1", self.namespace,
                                                        "microservices", **kw)
        return list_ms

    def _list_deploy(self, api: client.ApiClient) -> Callable[..., Any]:
        apps = client.AppsV1Api(api)

        def list_deploy(**kw: Any) -> Any:
            return apps.list_namespaced_deployment(self.namespace, **kw)
        return list_deploy

    def _watch(self, kind: str, lister: Callable[..., Any]) -> None:
        while not self._stop.is_set():
            stream = watch.Watch()
            try:  # the listers are annotated Any, so events arrive as plain dicts
                for event in stream.stream(lister, timeout_seconds=60):
                    obj = event["object"]
                    name = obj["metadata"]["name"]
                    with self._cond:
                        if event["type"] == "DELETED":
                            self.state[kind].pop(name, None)
                        else:
                            self.state[kind][name] = obj
                        self._cond.notify_all()
                    if self._stop.is_set():
                        break
            except Exception:  # a broken watch is restarted; the bench must not die of it
                time.sleep(0.2)

    def wait(self, predicate: Callable[[State], bool], timeout: float = 120.0) -> float:
        """Blocks until ``predicate(state)`` holds; returns the monotonic time it first did."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while not predicate(self.state):
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError("condition not reached")
                self._cond.wait(left)
            return time.monotonic()

    def stop(self) -> None:
        self._stop.set()


def deployments_ready(state: State, names: list[str], replicas: dict[str, int]) -> bool:
    for name in names:
        dep = state["deploy"].get(name)
        if dep is None:
            return False
        want = replicas[name]
        st = dep.get("status") or {}
        if dep["spec"].get("replicas") != want or int(st.get("readyReplicas") or 0) != want:
            return False
    return True


def microservice_converged(state: State, name: str) -> bool:
    obj = state["ms"].get(name)
    if obj is None:
        return False
    st = obj.get("status") or {}
    return st.get("observedGeneration") == obj["metadata"].get("generation") and st.get("phase") == "Ready"
