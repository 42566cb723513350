"""Pydantic models of the Microservice API, mirroring crds/microservices.yaml.

The CRD YAML is the single source of truth for the schema the API server enforces; these models
mirror it field by field (names, defaults, bounds) and tests/unit/test_api_crd_agree.py fails if
the two drift. The models also re-check the CEL rules, because an object stored before a CRD
change, or a file given to ``microservice-operator render``, never went through them.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from decimal import Decimal
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator
from pydantic.alias_generators import to_camel

from .quantity import parse_quantity

GROUP = "microservice-operator.io"
VERSION = "v1alpha1"
KIND = "Microservice"
PLURAL = "microservices"
API_VERSION = f"{GROUP}/{VERSION}"

MAX_TRACKS = 10
MAX_TRACK_NAME = 20
MAX_CONTAINER_NAME = 63
MAX_CONTAINERS = 32  # maxItems of containers and initContainers, which keeps the CRD's CEL rules in budget
DNS_LABEL = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
# The admission rules of crds/microservices.yaml (patterns, bounds, CEL) that the models re-check.
IMAGE_REFERENCE = r"^\S+$"
# Kubernetes 1.32 and later (RelaxedEnvironmentVariableValidation): printable ASCII other than '='.
ENV_NAME = re.compile(r"^[ -<>-~]+$")
IANA_PORT_NAME = re.compile(r"^([a-z0-9]+-)*[0-9]*[a-z][a-z0-9]*(-[a-z0-9]+)*$")  # IANA_SVC_NAME
MAX_PORT_NAME = 15
PROTOCOLS = ("TCP", "UDP", "SCTP")
MAX_PORT = 65535
MAX_RESOURCES = 32  # maxProperties of requests and limits
MAX_QUANTITY = 64  # maxLength of a quantity string
QUANTITY_HINT = "must be a quantity of at least 0, such as 500m, 2 or 1Gi"
MAX_SURGE_PERCENT = re.compile(r"^(100|[1-9][0-9]?)%$")
APP_CONTAINER = "app"
PORT_NAME = "http"
TEMPLATE_CONTAINERS = "spec.template.spec.containers"


class _Model(BaseModel):
    """camelCase on the wire, snake_case in Python; unknown fields are an error."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid")


def _port_problem(value: object, low: int) -> str | None:
    if isinstance(value, bool) or not isinstance(value, int):
        return f"{value!r} must be a port number"
    return None if low <= value <= MAX_PORT else f"{value} must be from {low} to {MAX_PORT}"


def _env_var(entry: dict[str, Any]) -> dict[str, Any]:
    """An EnvVar: its name as the API server wants it."""
    name = entry.get("name")
    if not isinstance(name, str) or not name:
        raise ValueError("name: Field required")
    if not ENV_NAME.match(name):
        raise ValueError(f"name: {name!r} must consist of printable ASCII characters other than '='")
    return entry


def _container_port(entry: dict[str, Any]) -> dict[str, Any]:
    """A ContainerPort: containerPort 1-65535, hostPort 0-65535, an IANA service name, TCP, UDP or SCTP."""
    if "containerPort" not in entry:
        raise ValueError("containerPort: Field required")
    problems = [f"{key}: {problem}" for key, low in (("containerPort", 1), ("hostPort", 0)) if key in entry
                for problem in [_port_problem(entry[key], low)] if problem]
    name = entry.get("name")
    if name is not None and not (isinstance(name, str) and len(name) <= MAX_PORT_NAME and IANA_PORT_NAME.match(name)):
        problems.append(f"name: {name!r} must be an IANA service name (at most {MAX_PORT_NAME} lowercase letters, "
                        "digits and inner '-', with a letter)")
    if entry.get("protocol", "TCP") not in PROTOCOLS:
        problems.append(f"protocol: {entry['protocol']!r} must be one of {', '.join(PROTOCOLS)}")
    if problems:
        raise ValueError("; ".join(problems))
    return entry


def _quantities(resources: dict[str, Any], key: str) -> dict[str, Decimal]:
    """The values of resources[key] (requests or limits), each checked to be a quantity of at least 0."""
    given = resources.get(key)
    if given is None:
        return {}
    if not isinstance(given, dict):
        raise ValueError(f"{key}: must be a map of resource names to quantities")
    if len(given) > MAX_RESOURCES:
        raise ValueError(f"{key}: at most {MAX_RESOURCES} resources")
    values = {}
    for name, value in given.items():
        if value is None:
            continue
        quantity = parse_quantity(value) if not (isinstance(value, str) and len(value) > MAX_QUANTITY) else None
        if quantity is None or quantity < 0:
            raise ValueError(f"{key}.{name}: {value!r} {QUANTITY_HINT}")
        values[name] = quantity
    return values


def requests_above_limits(resources: dict[str, Any]) -> Iterator[tuple[str, Any, Any]]:
    """(resource, request, limit) for each resource whose request is above its limit; both as given."""
    requests, limits = _quantities(resources, "requests"), _quantities(resources, "limits")
    for name in requests.keys() & limits.keys():
        if requests[name] > limits[name]:
            yield name, resources["requests"][name], resources["limits"][name]


def _resources(resources: dict[str, Any]) -> dict[str, Any]:
    """A ResourceRequirements: quantities, and no request above the limit of the same resource."""
    above = [f"requests.{name} ({request}) is above limits.{name} ({limit})"
             for name, request, limit in sorted(requests_above_limits(resources))]
    if above:
        raise ValueError("; ".join(above))
    return resources


def _probe_ports(probe: Any) -> list[str]:
    """Port numbers of a probe's handler out of 1-65535 (a port name is checked by the API server)."""
    if not isinstance(probe, dict):
        return []
    problems = []
    for handler in ("httpGet", "tcpSocket", "grpc"):
        given = probe.get(handler)
        port = given.get("port") if isinstance(given, dict) else None
        if port is None or (isinstance(port, str) and handler != "grpc"):
            continue
        problem = _port_problem(port, 1)
        if problem:
            problems.append(f"{handler}.port: {problem}")
    return problems


EnvVar = Annotated[dict[str, Any], AfterValidator(_env_var)]
ContainerPort = Annotated[dict[str, Any], AfterValidator(_container_port)]
Resources = Annotated[dict[str, Any], AfterValidator(_resources)]


class _OpenModel(_Model):
    """Mirrors a CRD node with ``x-kubernetes-preserve-unknown-fields``: the fields the operator reads are
    typed and checked, every other field is kept as given and passed through."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="allow")


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
    image: str = Field(
        min_length=1, pattern=IMAGE_REFERENCE, description="Container image this track runs (no whitespace).",
    )
    weight: int = Field(ge=0, le=100, description="Share of traffic in percent; all tracks sum to 100.")
    env: list[EnvVar] | None = Field(
        default=None, description="Environment variables of the app container (core/v1 EnvVar list); an entry "
        "replaces spec.template's entry of the same name.",
    )
    resources: Resources | None = Field(
        default=None, description="Compute resources of the app container (core/v1 ResourceRequirements), "
        "merged key by key over spec.template's; quantities, no request above its limit.",
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


class Shutdown(_Model):
    """How the pods of every track stop: a preStop sleep, so no request meets a closed listener."""

    pre_stop_sleep_seconds: int = Field(
        default=5, ge=0,
        description="Seconds the app container's preStop hook (the native sleep action) waits before the "
        "container gets SIGTERM, so kube-proxy and load balancers stop sending it requests first; 0: no hook. "
        "A preStop the template sets on the app container replaces it. terminationGracePeriodSeconds "
        "defaults to the preStop sleep + 30.",
    )


class TemplateContainer(_OpenModel):
    """A container of spec.template; the fields the operator merges are typed, the rest pass through."""

    name: str = Field(
        min_length=1, max_length=MAX_CONTAINER_NAME, pattern=DNS_LABEL,
        description="Container name, a DNS-1123 label; `app` is the app container.",
    )
    image: str | None = Field(
        default=None, min_length=1, pattern=IMAGE_REFERENCE,
        description="Image (no whitespace); required but for `app`, whose image the track's replaces.",
    )
    env: list[EnvVar] | None = Field(
        default=None, description="Environment (core/v1 EnvVar list); for `app` a track's env entries replace "
        "those of the same name.",
    )
    ports: list[ContainerPort] | None = Field(
        default=None, description="Ports (core/v1 ContainerPort list); `app` gets the port `http` on spec.port "
        "unless one is named http.",
    )
    resources: Resources | None = Field(
        default=None, description="Compute resources; for `app` the track's resources are merged on top. "
        "Quantities, no request above its limit.",
    )
    security_context: dict[str, Any] | None = Field(
        default=None, description="Security context; for `app` it overrides the restricted defaults field by field.",
    )
    lifecycle: dict[str, Any] | None = Field(
        default=None, description="Lifecycle hooks; for `app` a preStop here replaces the spec.shutdown sleep.",
    )
    readiness_probe: dict[str, Any] | None = Field(
        default=None, description="Readiness probe; for `app` it replaces the spec.probes one, or only tunes "
        "its timings when it has no handler.",
    )
    liveness_probe: dict[str, Any] | None = Field(
        default=None, description="Liveness probe; for `app` as readinessProbe.",
    )

    @model_validator(mode="after")
    def _probe_port_numbers(self) -> TemplateContainer:
        probes = {"startupProbe": (self.model_extra or {}).get("startupProbe"),
                  "readinessProbe": self.readiness_probe, "livenessProbe": self.liveness_probe}
        problems = [f"{key}.{problem}" for key, probe in probes.items() for problem in _probe_ports(probe)]
        if problems:
            raise ValueError("; ".join(problems))
        return self


class PodSpecTemplate(_OpenModel):
    """The pod spec of spec.template (core/v1 PodSpec): typed where the operator merges, the rest as given."""

    containers: list[TemplateContainer] | None = Field(
        default=None, max_length=MAX_CONTAINERS,
        description="Containers; the one named `app` is the app container, the others pass through.",
    )
    init_containers: list[TemplateContainer] | None = Field(
        default=None, max_length=MAX_CONTAINERS, description="Init containers, passed through.",
    )
    security_context: dict[str, Any] | None = Field(
        default=None, description="Pod security context; overrides the restricted defaults field by field.",
    )
    automount_service_account_token: bool | None = Field(
        default=None, description="Mount the service account token; the operator's default is false.",
    )
    termination_grace_period_seconds: int | None = Field(
        default=None, ge=0, description="Grace period of a stopping pod; defaults to the preStop sleep + 30.",
    )

    @model_validator(mode="after")
    def _unique_container_names(self) -> PodSpecTemplate:
        seen: set[str] = set()
        for key, containers in (("initContainers", self.init_containers), ("containers", self.containers)):
            names = [c.name for c in containers or []]
            duplicates = sorted({n for i, n in enumerate(names) if n in seen or n in names[:i]})
            if duplicates:
                raise ValueError(f"spec.template.spec.{key}: duplicate container name(s) {', '.join(duplicates)} "
                                 "(names are unique across containers and initContainers)")
            seen.update(names)
        for key, containers in (("initContainers", self.init_containers), ("containers", self.containers)):
            for i, container in enumerate(containers or []):
                if container.image is None and (key == "initContainers" or container.name != APP_CONTAINER):
                    raise ValueError(f"spec.template.spec.{key}[{i}].image: Required value: "
                                     + ("every init container needs an image" if key == "initContainers" else
                                        "every container but app (whose image is the track's) needs an image"))
        return self

    def app_container(self) -> TemplateContainer | None:
        """The container named `app`, if the template has one."""
        return next((c for c in self.containers or [] if c.name == APP_CONTAINER), None)


class PodTemplateMetadata(_Model):
    """Labels and annotations of every track's pods."""

    labels: dict[str, str] | None = Field(
        default=None, description="Pod labels; the operator's own labels win over these, so its selectors match.",
    )
    annotations: dict[str, str] | None = Field(default=None, description="Pod annotations, passed through.")


class PodTemplate(_Model):
    """A core/v1 PodTemplateSpec applied to every track; the operator's defaults fill what it leaves out."""

    metadata: PodTemplateMetadata | None = Field(default=None, description="Labels and annotations of the pods.")
    spec: PodSpecTemplate | None = Field(default=None, description="The pod spec (core/v1 PodSpec).")


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
        description="Run pods under the restricted Pod Security profile. Set false only for images that need root. "
        "spec.template's securityContext fields win, field by field.",
    )
    max_surge: int | str = Field(
        default="25%",
        description="How many pods above spec.replicas a planned move of traffic (a weight edit, a failback, "
        "a scale) may add while the new pods start, as a number (at least 1) or a percentage of spec.replicas "
        "(rounded up). A track loses ready pods only once pods of the tracks that gain are ready.",
    )
    progress_deadline_seconds: int | None = Field(
        default=None, ge=1,
        description="Seconds a track's rollout may make no progress before its Deployment reports "
        "ProgressDeadlineExceeded, shown as the track's reason and as Degraded; Kubernetes' default (600) if unset.",
    )
    template: PodTemplate | None = Field(default=None, description="Pod template applied to every track.")
    shutdown: Shutdown = Field(default_factory=Shutdown, description="How the pods stop.")

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
        self._check_app_template()
        return self

    def _check_max_surge(self) -> None:
        surge = self.max_surge
        bad_count = isinstance(surge, int) and surge < 1
        if bad_count or (isinstance(surge, str) and not MAX_SURGE_PERCENT.match(surge)):
            raise ValueError(f"spec.maxSurge: {surge!r} must be a number of pods (at least 1) or a percentage "
                             "from 1% to 100%")

    def app_template(self) -> TemplateContainer | None:
        """The template's container named `app`, if any."""
        return self.template.spec.app_container() if self.template and self.template.spec else None

    def pre_stop_sleep_seconds(self) -> int:
        """Seconds the app container's preStop sleeps: the template's sleep action, else spec.shutdown's.

        A template preStop that is not a sleep (exec, httpGet) counts as 0: its length is unknown.
        """
        app = self.app_template()
        pre_stop = (app.lifecycle or {}).get("preStop") if app else None
        if pre_stop is None:
            return self.shutdown.pre_stop_sleep_seconds
        sleep = pre_stop.get("sleep") if isinstance(pre_stop, dict) else None
        seconds = sleep.get("seconds") if isinstance(sleep, dict) else None
        return seconds if isinstance(seconds, int) else 0

    def _check_app_template(self) -> None:
        """Rules the API server would enforce on the Deployment only, caught before anything is written."""
        app = self.app_template()
        for port in (app.ports or []) if app else []:
            if port.get("containerPort") == self.port and port.get("name") != PORT_NAME:
                raise ValueError(f"{TEMPLATE_CONTAINERS}[{APP_CONTAINER}].ports: the port on spec.port "
                                 f"({self.port}) must be named {PORT_NAME} or left out (the operator adds it)")
        self._check_merged_resources()
        spec = self.template.spec if self.template else None
        grace = spec.termination_grace_period_seconds if spec else None
        if grace is not None and self.pre_stop_sleep_seconds() > grace:
            raise ValueError(f"spec.template.spec.terminationGracePeriodSeconds: {grace} is shorter than the "
                             f"app container's preStop sleep ({self.pre_stop_sleep_seconds()} s)")

    def _check_merged_resources(self) -> None:
        """A track's resources merged over the app container's: a request of one above a limit of the other."""
        app = self.app_template()
        base = app.resources if app else None
        if not base:
            return
        for i, track in enumerate(self.tracks):
            over = track.resources or {}
            merged = {key: {**(base.get(key) or {}),
                            **{k: v for k, v in (over.get(key) or {}).items() if v is not None}}
                      for key in ("requests", "limits")}
            above = [f"requests.{name} {request} is above limits.{name} {limit}"
                     for name, request, limit in sorted(requests_above_limits(merged))]
            if above:
                raise ValueError(f"spec.tracks[{i}].resources: merged over spec.template's app container, "
                                 + "; ".join(above))

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
    reason: str | None = Field(
        default=None, description="Why pods of the track do not serve, in Kubernetes' words: a Deployment "
        "condition (ProgressDeadlineExceeded, FailedCreate) or a pod's (CrashLoopBackOff, ImagePullBackOff).",
    )
    message: str | None = Field(default=None, description="Kubernetes' message for reason, naming the pod.")


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
    replicas: int | None = Field(
        default=None, description="Pods that exist in all tracks (the Deployments' status.replicas), as the scale "
        "subresource reports them; above spec.replicas while a move surges or a failover keeps the primary's pods.",
    )
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
