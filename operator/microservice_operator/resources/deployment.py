"""The Deployment ``<name>-<track>`` of one track.

Its pod template is ``spec.template`` with the operator's defaults filled in where the template is
silent, and the track's image, env and resources on top of the app container (the container named
``app``). What the user sets wins; the rules are listed in README.md under "spec.template".
"""

from __future__ import annotations

from typing import Any

from ..api import APP_CONTAINER, PORT_NAME, Microservice, Track
from .common import child_name, metadata, selector, with_spec_hash

CONTAINER = APP_CONTAINER
GRACE_AFTER_PRE_STOP = 30  # Kubernetes' own default grace period, kept on top of the preStop sleep
PROBE_HANDLERS = ("httpGet", "tcpSocket", "exec", "grpc")

RESTRICTED_POD = {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}}
RESTRICTED_CONTAINER = {
    "allowPrivilegeEscalation": False,
    "capabilities": {"drop": ["ALL"]},
    "runAsNonRoot": True,
    "seccompProfile": {"type": "RuntimeDefault"},
}


def merged(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    """``over`` on top of ``base``: nested objects merge key by key, any other value of ``over`` wins.

    A null in ``over`` counts as silent, so it keeps the value of ``base``.
    """
    out = dict(base)
    for key, value in over.items():
        if value is None:
            continue
        out[key] = merged(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


STARTUP_BUDGET_SECONDS = 60


def _probe(path: str) -> dict[str, Any]:
    return {"httpGet": {"path": path, "port": PORT_NAME}, "periodSeconds": 5}


def _startup_probe(path: str) -> dict[str, Any]:
    """Up to STARTUP_BUDGET_SECONDS for the app to answer its liveness path before the liveness probe
    counts: on a busy node a Python app can take longer to listen than three liveness periods (15 s),
    and would be killed while starting."""
    return {"httpGet": {"path": path, "port": PORT_NAME}, "periodSeconds": 1,
            "failureThreshold": STARTUP_BUDGET_SECONDS}


def _with_default_probe(given: Any, default: dict[str, Any]) -> dict[str, Any]:
    """A template probe with a handler replaces the default one; one without only tunes its timings."""
    if not isinstance(given, dict):
        return default
    return given if any(h in given for h in PROBE_HANDLERS) else {**default, **given}


def _ports(given: list[dict[str, Any]] | None, port: int) -> list[dict[str, Any]]:
    """The template's ports, with the port ``http`` on spec.port first unless one is already named so."""
    ports = given or []
    if any(p.get("name") == PORT_NAME for p in ports):
        return ports
    return [{"name": PORT_NAME, "containerPort": port, "protocol": "TCP"}, *ports]


def _env(given: list[dict[str, Any]] | None, track: list[dict[str, Any]] | None) -> list[dict[str, Any]]:
    """The template's env with the track's entries replacing those of the same name, the others appended."""
    by_name = {e.get("name"): e for e in track or []}
    template_names = {e.get("name") for e in given or []}
    return ([by_name.get(e.get("name"), e) for e in given or []]
            + [e for e in track or [] if e.get("name") not in template_names])


def _lifecycle(given: dict[str, Any] | None, sleep_seconds: int) -> dict[str, Any]:
    """The template's hooks, with a native sleep preStop where the template has no preStop."""
    lifecycle = dict(given or {})
    if lifecycle.get("preStop") is None and sleep_seconds > 0:
        lifecycle["preStop"] = {"sleep": {"seconds": sleep_seconds}}
    return lifecycle


def _app_container(ms: Microservice, track: Track, given: dict[str, Any]) -> dict[str, Any]:
    """The template's ``app`` container (or none) with the defaults where it is silent and the track on top."""
    spec = ms.spec
    security = given.get("securityContext")
    built: dict[str, Any] = {
        "name": CONTAINER,
        "image": track.image,
        "ports": _ports(given.get("ports"), spec.port),
        "env": _env(given.get("env"), track.env),
        "resources": merged(given.get("resources") or {}, track.resources or {}),
        "readinessProbe": _with_default_probe(given.get("readinessProbe"), _probe(spec.probes.readiness_path)),
        "livenessProbe": _with_default_probe(given.get("livenessProbe"), _probe(spec.probes.liveness_path)),
        "startupProbe": _with_default_probe(given.get("startupProbe"), _startup_probe(spec.probes.liveness_path)),
        "lifecycle": _lifecycle(given.get("lifecycle"), spec.shutdown.pre_stop_sleep_seconds),
        "securityContext": merged(RESTRICTED_CONTAINER, security or {}) if spec.restricted_security_context
        else security,
    }
    container = {k: v for k, v in built.items() if v}  # an empty env, resources or lifecycle is left out
    container.update({k: v for k, v in given.items() if k not in built and v is not None})
    return container


def _pod_spec(ms: Microservice, track: Track) -> dict[str, Any]:
    """spec.template.spec with the app container built, sidecars and init containers as given, pod defaults."""
    template = ms.spec.template.spec if ms.spec.template and ms.spec.template.spec else None
    given = template.model_dump(by_alias=True, exclude_none=True) if template else {}  # a copy: safe to change
    containers: list[dict[str, Any]] = given.pop("containers", [])
    index = next((i for i, c in enumerate(containers) if c["name"] == CONTAINER), None)
    app = _app_container(ms, track, containers[index] if index is not None else {})
    containers = [app, *containers] if index is None else [*containers[:index], app, *containers[index + 1:]]
    spec: dict[str, Any] = {"containers": containers, **{k: v for k, v in given.items() if v is not None}}
    spec.setdefault("automountServiceAccountToken", False)
    spec.setdefault("terminationGracePeriodSeconds", ms.spec.pre_stop_sleep_seconds() + GRACE_AFTER_PRE_STOP)
    if ms.spec.restricted_security_context:
        spec["securityContext"] = merged(RESTRICTED_POD, spec.get("securityContext") or {})
    return spec


def _pod_metadata(ms: Microservice, own_labels: dict[str, str]) -> dict[str, Any]:
    """The operator's labels, then the template's other labels (the operator's win: the selectors must
    match), and the template's annotations."""
    meta = ms.spec.template.metadata if ms.spec.template else None
    extra = {k: v for k, v in ((meta.labels if meta else None) or {}).items() if k not in own_labels}
    out: dict[str, Any] = {"labels": {**own_labels, **extra}}
    if meta and meta.annotations:
        out["annotations"] = dict(meta.annotations)
    return out


def build_deployment(ms: Microservice, track: Track, replicas: int) -> dict[str, Any]:
    """The track's Deployment with ``replicas`` pods."""
    name = child_name(ms, track.name)
    own = metadata(ms, name, track.name)
    spec: dict[str, Any] = {
        "replicas": replicas,
        "selector": {"matchLabels": selector(ms, track.name)},
        "strategy": _rolling_update(ms),
        "template": {"metadata": _pod_metadata(ms, dict(own["labels"])), "spec": _pod_spec(ms, track)},
    }
    if ms.spec.progress_deadline_seconds is not None:
        spec["progressDeadlineSeconds"] = ms.spec.progress_deadline_seconds
    return with_spec_hash({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": own, "spec": spec})


def _rolling_update(ms: Microservice) -> dict[str, Any]:
    """A rollout of the track (a new image or template) is make-before-break too: no old pod leaves
    before a new one is ready, and at most spec.maxSurge new pods start at a time."""
    return {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": ms.spec.max_surge, "maxUnavailable": 0}}
