"""Pydantic models of the Microservice API, mirroring crds/microservices.yaml.

The CRD YAML is the single source of truth for the schema the API server enforces; these models
mirror it field by field (names, defaults, bounds) and tests/unit/test_api_crd_agree.py fails if
the two drift. The models also re-check the CEL rules, because an object stored before a CRD
change, or a file given to ``microservice-operator render``, never went through them.
"""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator
from pydantic.alias_generators import to_camel

GROUP = "microservice-operator.io"
VERSION = "v1alpha1"
KIND = "Microservice"
PLURAL = "microservices"
API_VERSION = f"{GROUP}/{VERSION}"

MAX_TRACKS = 10
MAX_TRACK_NAME = 20
DNS_LABEL = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
MAX_SURGE_PERCENT = re.compile(r"^(100|[1-9][0-9]?)%$")


class _Model(BaseModel):
    """camelCase on the wire, snake_case in Python; unknown fields are an error."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid")


class ServiceType(StrEnum):
    CLUSTER_IP = "ClusterIP"
    NODE_PORT = "NodePort"
    LOAD_BALANCER = "LoadBalancer"


class Strategy(StrEnum):
    REPLICAS = "Replicas"
    GATEWAY_API = "GatewayAPI"


class Policy(StrEnum):
    NONE = "None"
    ACTIVE_STANDBY = "ActiveStandby"
    REDISTRIBUTE = "Redistribute"


class Track(_Model):
    """One version of the service, run as its own Deployment and Service."""

    name: str = Field(
        pattern=DNS_LABEL, min_length=1, max_length=MAX_TRACK_NAME,
        description="Track name, a DNS-1123 label; names the Deployment and Service <name>-<track>.",
    )
    image: str = Field(min_length=1, description="Container image this track runs.")
    weight: int = Field(ge=0, le=100, description="Share of traffic in percent; all tracks sum to 100.")
    env: list[dict[str, Any]] | None = Field(
        default=None, description="Environment variables of the app container (core/v1 EnvVar list).",
    )
    resources: dict[str, Any] | None = Field(
        default=None, description="Compute resources of the app container (core/v1 ResourceRequirements).",
    )


class ServiceSpec(_Model):
    """The Service <name> that fronts every track."""

    type: ServiceType = Field(default=ServiceType.CLUSTER_IP, description="Service type.")
    port: int = Field(default=80, ge=1, le=65535, description="Port the Services expose.")


class Probes(_Model):
    """HTTP GET probes of the app container, on spec.port."""

    readiness_path: str = Field(default="/readyz", description="Path of the readiness probe.")
    liveness_path: str = Field(default="/healthz", description="Path of the liveness probe.")


class ParentRef(_Model):
    """A Gateway the HTTPRoute attaches to."""

    name: str = Field(min_length=1, description="Name of the Gateway.")
    namespace: str | None = Field(default=None, description="Namespace of the Gateway; the route's own by default.")
    section_name: str | None = Field(default=None, description="Listener of the Gateway to attach to.")


class GatewaySpec(_Model):
    """How the HTTPRoute <name> is attached and matched."""

    parent_refs: list[ParentRef] = Field(min_length=1, description="Gateways the HTTPRoute attaches to.")
    hostnames: list[str] | None = Field(default=None, description="Host names the HTTPRoute matches.")
    path: str = Field(default="/", description="Path prefix the HTTPRoute matches.")


class Routing(_Model):
    """How traffic is split between the tracks."""

    strategy: Strategy = Field(
        default=Strategy.REPLICAS,
        description="Replicas: the split follows each track's share of ready pods. "
        "GatewayAPI: an HTTPRoute carries the weights.",
    )
    gateway: GatewaySpec | None = Field(default=None, description="Required when strategy is GatewayAPI.")

    @model_validator(mode="after")
    def _gateway_when_needed(self) -> Routing:
        if self.strategy is Strategy.GATEWAY_API and self.gateway is None:
            raise ValueError("spec.routing.gateway is required when spec.routing.strategy is GatewayAPI")
        return self


class Failover(_Model):
    """Health-driven failover between tracks."""

    policy: Policy = Field(default=Policy.NONE, description="None, ActiveStandby or Redistribute.")
    primary: str | None = Field(default=None, description="ActiveStandby: the track that normally serves.")
    standby: str | None = Field(default=None, description="ActiveStandby: the track that takes over.")
    min_ready_percent: int = Field(
        default=50, ge=1, le=100,
        description="A track is unhealthy when its ready replicas fall below this percentage of its desired replicas.",
    )
    unhealthy_after_seconds: int = Field(
        default=10, ge=0, description="How long a track must stay unhealthy before it is failed over.",
    )
    failback_after_seconds: int = Field(
        default=30, ge=0, description="How long a failed track must stay healthy before traffic returns.",
    )


class MicroserviceSpec(_Model):
    """Desired state of a Microservice."""

    replicas: int = Field(default=1, ge=0, description="Pods in total, across all tracks.")
    port: int = Field(default=8080, ge=1, le=65535, description="Port the app listens on.")
    tracks: list[Track] = Field(min_length=1, max_length=MAX_TRACKS, description="Versions of the service.")
    service: ServiceSpec = Field(default_factory=ServiceSpec, description="The shared Service.")
    probes: Probes = Field(default_factory=Probes, description="Readiness and liveness probes.")
    routing: Routing = Field(default_factory=Routing, description="Traffic splitting.")
    failover: Failover = Field(default_factory=Failover, description="Failover between tracks.")
    restricted_security_context: bool = Field(
        default=True,
        description="Run pods under the restricted Pod Security profile. Set false only for images that need root.",
    )
    max_surge: int | str = Field(
        default="25%",
        description="How many pods above spec.replicas a planned move of traffic (a weight edit, a failback, "
        "a scale) may add while the new pods start, as a number (at least 1) or a percentage of spec.replicas "
        "(rounded up). A track loses ready pods only once pods of the tracks that gain are ready.",
    )

    @model_validator(mode="after")
    def _cross_field_rules(self) -> MicroserviceSpec:
        names = [t.name for t in self.tracks]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"spec.tracks: duplicate track name(s) {', '.join(duplicates)}")
        total = sum(t.weight for t in self.tracks)
        if total != 100:
            raise ValueError(f"spec.tracks: weights must sum to 100, found {total}")
        self._check_active_standby(names)
        self._check_max_surge()
        return self

    def _check_max_surge(self) -> None:
        surge = self.max_surge
        bad_count = isinstance(surge, int) and surge < 1
        if bad_count or (isinstance(surge, str) and not MAX_SURGE_PERCENT.match(surge)):
            raise ValueError(f"spec.maxSurge: {surge!r} must be a number of pods (at least 1) or a percentage "
                             "from 1% to 100%")

    def _check_active_standby(self, names: list[str]) -> None:
        fo = self.failover
        if fo.policy is not Policy.ACTIVE_STANDBY:
            return
        if fo.primary is None or fo.standby is None:
            raise ValueError("spec.failover: ActiveStandby needs both primary and standby")
        if fo.primary == fo.standby:
            raise ValueError("spec.failover: primary and standby must be different tracks")
        for role, track in (("primary", fo.primary), ("standby", fo.standby)):
            if track not in names:
                raise ValueError(f"spec.failover.{role}: no track named {track!r} in spec.tracks")


class Phase(StrEnum):
    PROGRESSING = "Progressing"
    READY = "Ready"
    DEGRADED = "Degraded"
    FAILED_OVER = "FailedOver"
    INVALID = "Invalid"


class Condition(_Model):
    """A metav1.Condition."""

    type: str = Field(description="Ready, Progressing, Degraded or FailedOver.")
    status: Literal["True", "False", "Unknown"] = Field(description="True, False or Unknown.")
    reason: str = Field(description="CamelCase reason for the last transition.")
    message: str | None = Field(default=None, description="Human-readable details.")
    last_transition_time: str = Field(description="When the status last changed (RFC 3339).")
    observed_generation: int | None = Field(default=None, description="The generation this condition describes.")


class TrackStatus(_Model):
    """What runs for one track."""

    name: str = Field(description="Track name.")
    replicas: int = Field(description="Replicas the operator wants for the track now.")
    ready_replicas: int = Field(description="Replicas of the track that are ready.")
    weight: int = Field(description="Configured weight from spec.tracks.")
    routing_weight: int = Field(description="Weight the operator routes with now (after failover).")
    effective_weight: int = Field(
        description="Share of traffic the track really gets: its share of ready pods for the Replicas "
        "strategy, the routing weight for GatewayAPI.",
    )
    healthy: bool | None = Field(
        default=None, description="Whether the track has enough ready replicas; unset when it has none desired.",
    )
    health_transition_time: str | None = Field(
        default=None, description="When healthy last changed (RFC 3339); drives the failover dwell.",
    )


class FailoverStatus(_Model):
    """Current failover state."""

    active: bool = Field(description="True while traffic is failed over.")
    active_track: str | None = Field(default=None, description="ActiveStandby: the track serving now.")
    failed_tracks: list[str] | None = Field(default=None, description="Tracks whose traffic was moved away.")
    since: str | None = Field(default=None, description="When the failover started (RFC 3339).")
    reason: str | None = Field(default=None, description="Why the failover happened.")


class MicroserviceStatus(_Model):
    """Observed state of a Microservice. Every field is optional: an Invalid object keeps only some."""

    observed_generation: int | None = Field(default=None, description="The generation this status describes.")
    replicas: int | None = Field(default=None, description="Pods the operator wants in total.")
    ready_replicas: int | None = Field(default=None, description="Pods that are ready.")
    selector: str | None = Field(default=None, description="Label selector of the pods, for the scale subresource.")
    phase: Phase | None = Field(default=None, description="Summary of the conditions.")
    weights: str | None = Field(default=None, description="Effective weights, e.g. stable=90,canary=10.")
    conditions: list[Condition] | None = Field(default=None, description="Ready, Progressing, Degraded, FailedOver.")
    tracks: list[TrackStatus] | None = Field(default=None, description="One entry per track.")
    failover: FailoverStatus | None = Field(default=None, description="Failover state.")


class Microservice(_Model):
    """The parts of a Microservice object the operator reads."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="ignore")

    name: str
    namespace: str
    uid: str = ""
    generation: int = 0
    spec: MicroserviceSpec

    @classmethod
    def from_body(cls, body: dict[str, Any]) -> Microservice:
        """Builds the model from an API object (``metadata`` flattened into name/namespace/uid)."""
        meta = body.get("metadata") or {}
        return cls.model_validate({
            "name": meta.get("name", ""),
            "namespace": meta.get("namespace") or "default",
            "uid": meta.get("uid", ""),
            "generation": meta.get("generation", 0),
            "spec": body.get("spec") or {},
        })
