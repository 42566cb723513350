"""``microservice-operator run|render``."""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time
from datetime import UTC, datetime
from typing import Any

import yaml

from . import __version__
from .api import KIND

log = logging.getLogger(__name__)
DEFAULT_LIVENESS = "http://0.0.0.0:8080/healthz"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="microservice-operator",
        description="Runs Microservices as Deployments and Services, splits traffic between their "
        "tracks by weight, and fails over from unhealthy tracks.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="run the operator against the current kubeconfig or in-cluster account")
    scope = run.add_mutually_exclusive_group()
    scope.add_argument("-n", "--namespace", action="append", default=[], metavar="NS",
                       help="watch this namespace (repeatable)")
    scope.add_argument("-A", "--all-namespaces", action="store_true", help="watch every namespace (default)")
    run.add_argument("--liveness", default=DEFAULT_LIVENESS, metavar="URL",
                     help=f"liveness endpoint to serve (default {DEFAULT_LIVENESS}); 'none' to disable")
    run.add_argument("--metrics-port", type=int, default=int(os.environ.get("MSO_METRICS_PORT", "9090")),
                     help="port of the Prometheus /metrics endpoint (default 9090); 0 to disable")
    run.add_argument("--metrics-address", default="0.0.0.0", help="address the metrics endpoint binds to")
    run.add_argument("--leader-elect", action="store_true",
                     help="run reconciles only while holding a coordination.k8s.io Lease, so that of several "
                     "replicas exactly one writes (the others keep warm caches and take over)")
    run.add_argument("--lease", default="microservice-operator", metavar="NAME",
                     help="name of the Lease (default microservice-operator)")
    run.add_argument("--lease-namespace", metavar="NS",
                     help="namespace of the Lease (default: POD_NAMESPACE, the pod's namespace, else default)")
    run.add_argument("--log-level", default=os.environ.get("MSO_LOG_LEVEL", "INFO"),
                     choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    render = sub.add_parser("render", help="print the objects a Microservice file implies, without a cluster")
    render.add_argument("-f", "--filename", required=True, help="YAML file with one or more Microservices")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "render":
        try:
            return render(args.filename)
        except BrokenPipeError:  # `render ... | head`: the reader left, nothing is wrong
            sys.stderr.close()
            return 0
    return run(args)


def run(args: argparse.Namespace) -> int:
    from . import kubelogin

    kubelogin.load_config_only()  # before kopf, which imports all of `kubernetes` whenever it can
    import kopf
    from prometheus_client import start_http_server

    from . import handlers  # noqa: F401  (registers the handlers)
    from .k8s import credentials

    try:  # fail now, in one line, rather than in kopf's retried start-up
        credentials()
    except (kopf.LoginError, OSError, ValueError, KeyError, yaml.YAMLError) as err:
        print(f"error: cannot log in to Kubernetes: {type(err).__name__}: {err}", file=sys.stderr)
        return 1
    kopf.configure(verbose=args.log_level == "DEBUG", quiet=args.log_level in ("WARNING", "ERROR"))
    logging.getLogger().setLevel(args.log_level)
    if args.log_level != "DEBUG":  # kopf logs every handled watch event at INFO
        logging.getLogger("kopf.objects").setLevel(logging.WARNING)
    if args.metrics_port:
        start_http_server(args.metrics_port, addr=args.metrics_address)
    restarts = RestartBudget()
    while True:
        try:
            kopf.run(
                clusterwide=not args.namespace,
                namespaces=args.namespace,
                liveness_endpoint=None if args.liveness == "none" else args.liveness,
                standalone=True,  # kopf's peering would pause kopf's handlers, not our queue: see leader.py
                memo=kopf.Memo(lease=_lease(args)),
            )
            return 0
        except Exception as err:
            if not (api_went_away(err) and restarts.allow(time.monotonic())):
                raise
            log.warning("a watched API went away (%s): kopf stops on this, so the operator starts again; "
                        "it re-lists every cache and reports the missing API on the Microservices using it",
                        err)


def _lease(args: argparse.Namespace) -> tuple[str, str] | None:
    from .leader import default_namespace

    return (args.lease_namespace or default_namespace(), args.lease) if args.leader_elect else None


def api_went_away(err: BaseException) -> bool:
    """kopf's 404 on a watch: a CRD deleted while watched (e.g. the Gateway API's, by uninstalling
    a Gateway). kopf notices a CRD's deletion only through its CRD watch, and when the resource's own
    re-watch loses that race the whole operator stops (kopf's ``_update_resources`` warns of it)."""
    return type(err).__module__.startswith("kopf.") and getattr(err, "status", None) == 404


class RestartBudget:
    """At most ``limit`` in-process restarts in ``window`` seconds; beyond that the error is raised
    and the process exits, so a pod's restart policy (with its backoff) takes over."""

    def __init__(self, limit: int = 5, window: float = 600.0) -> None:
        self.limit, self.window = limit, window
        self._starts: list[float] = []

    def allow(self, now: float) -> bool:
        self._starts = [t for t in self._starts if now - t < self.window]
        if len(self._starts) >= self.limit:
            return False
        self._starts.append(now)
        return True


def render(filename: str) -> int:
    """Prints the children each Microservice in ``filename`` implies, as a multi-document YAML."""
    from .plan import Observed, plan

    try:
        with open(filename, encoding="utf-8") as handle:
            documents = [d for d in yaml.safe_load_all(handle) if d]
    except (OSError, yaml.YAMLError) as err:
        print(f"error: cannot read {filename}: {err}", file=sys.stderr)
        return 1
    out: list[dict[str, Any]] = []
    for doc in documents:
        if not isinstance(doc, dict) or doc.get("kind") != KIND:
            continue
        body = {**doc, "metadata": {"namespace": "default", **(doc.get("metadata") or {})}}
        result = plan(body, Observed(), datetime.now(UTC))
        if result.invalid:
            message = result.status["conditions"][0]["message"]
            print(f"error: {KIND} {body['metadata'].get('name')}: {message}", file=sys.stderr)
            return 1
        out.extend(result.apply)
    if not out:
        print(f"error: no {KIND} found in {filename}", file=sys.stderr)
        return 1
    yaml.safe_dump_all(out, sys.stdout, sort_keys=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
