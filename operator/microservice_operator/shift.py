"""Make-before-break: the replicas to apply now on the way to the decided ones. Pure.

The failover decision says how many replicas each track should end with. Applying that at once
would remove pods of a shrinking track in the same step that adds pods to a growing one, before any
new pod is ready: a 90/10 → 0/100 edit would leave the Service with one ready pod. Instead, every
reconcile moves one step, as a Deployment's rolling update does across its ReplicaSets:

- a shrinking track first loses the pods that are not ready (they serve nothing), and loses ready
  pods only as far as the ready pods of all tracks exceed the total it is heading for;
- a growing track gains pods only within the budget (``spec.replicas`` + ``spec.maxSurge``, counted
  over the replicas the Deployments want now, before this step's removals; pods already terminating
  are not counted);
- a track in ``hold`` does not shrink at all (it still carries traffic that has yet to move).

Every Deployment status change triggers the next reconcile, so the steps follow the pods' readiness.
"""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class TrackPods:
    """What a track's Deployment wants and has now: ``spec.replicas`` and ``status.readyReplicas``."""

    wanted: int
    ready: int


def surge_pods(max_surge: int | str, replicas: int) -> int:
    """``spec.maxSurge`` in pods: an int as is, a percentage of ``replicas`` rounded up."""
    if isinstance(max_surge, int):
        return max_surge
    return math.ceil(replicas * int(max_surge.rstrip("%")) / 100)


def step(targets: dict[str, int], now: dict[str, TrackPods], budget: int,
         hold: frozenset[str] = frozenset()) -> dict[str, int]:
    """The replicas each track gets in this step towards ``targets``, in the order of ``targets``.

    ``now`` may lack a track (no Deployment yet: nothing wanted, nothing ready) or hold one that is
    not in ``targets`` (it is ignored here). ``budget`` bounds the total wanted after the step; it
    is never made to drop a pod that is already wanted.
    """
    current = {name: now.get(name, TrackPods(0, 0)) for name in targets}
    # A Deployment's status can lag its spec: never count more ready pods than it wants.
    ready = {name: min(pods.ready, pods.wanted) for name, pods in current.items()}
    surplus = max(sum(ready.values()) - sum(targets.values()), 0)
    result = {}
    for name, target in targets.items():
        wanted = current[name].wanted
        if target >= wanted or name in hold:
            result[name] = wanted
            continue
        unready = wanted - ready[name]
        drop_ready = min(max(wanted - target - unready, 0), surplus)
        surplus -= drop_ready
        result[name] = max(wanted - unready - drop_ready, target)
    # Grow only into room that is free already: the pods this step removes free theirs at the next
    # step, so that whatever order the Deployments are written in, the total never passes the budget.
    room = max(budget - sum(current[name].wanted for name in targets), 0)
    for name, target in targets.items():
        grow = min(max(target - result[name], 0), room)
        room -= grow
        result[name] += grow
    return result
