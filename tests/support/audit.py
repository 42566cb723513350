"""Reading the local API server's audit log: who wrote what, when (the operator names its pod in its
User-Agent, ``microservice-operator/VERSION (POD)``)."""

from __future__ import annotations

import json
from datetime import datetime

from tests.support import kube

AUDIT_LOG = kube.STATE / "kwok" / "clusters" / "microservice-operator" / "logs" / "audit.log"
WRITE_VERBS = frozenset({"create", "update", "patch", "delete", "deletecollection"})


def offset() -> int:
    """Where the log ends now: read from here to see only what happens next."""
    return AUDIT_LOG.stat().st_size


def operator_writes(namespace: str, since: int, resource: str | None = None,
                    name: str | None = None) -> list[tuple[datetime, str]]:
    """(time, pod) of every write the operator sent into ``namespace`` after ``since``, oldest first."""
    found = []
    with AUDIT_LOG.open() as log:
        log.seek(since)
        for line in log:
            event = json.loads(line)
            agent, ref = event.get("userAgent", ""), event.get("objectRef") or {}
            if (event.get("verb") in WRITE_VERBS and agent.startswith("microservice-operator/")
                    and ref.get("namespace") == namespace
                    and resource in (None, ref.get("resource")) and name in (None, ref.get("name"))):
                pod = agent.rsplit("(", 1)[-1].rstrip(")")
                found.append((datetime.fromisoformat(event["stageTimestamp"].replace("Z", "+00:00")), pod))
    return sorted(found)
