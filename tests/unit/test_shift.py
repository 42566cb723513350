"""Make-before-break steps (shift.py), and a whole move played step by step."""

from __future__ import annotations

import pytest
from microservice_operator.shift import TrackPods, step, surge_pods


@pytest.mark.parametrize(("surge", "replicas", "pods"), [
    (1, 10, 1), (3, 0, 3), ("25%", 10, 3), ("25%", 4, 1), ("1%", 10, 1), ("100%", 4, 4), ("25%", 0, 0),
])
def test_surge_in_pods_rounds_a_percentage_up(surge: int | str, replicas: int, pods: int) -> None:
    assert surge_pods(surge, replicas) == pods


P = TrackPods


@pytest.mark.parametrize(("targets", "now", "budget", "hold", "expected"), [
    # Nothing exists yet: everything at once, within the budget.
    ({"a": 9, "b": 1}, {}, 13, (), {"a": 9, "b": 1}),
    # 90/10 -> 0/100: a keeps its ready pods, b grows by the surge.
    ({"a": 0, "b": 10}, {"a": P(9, 9), "b": P(1, 1)}, 13, (), {"a": 9, "b": 4}),
    # ... b's new pods are not ready yet: nothing more.
    ({"a": 0, "b": 10}, {"a": P(9, 9), "b": P(4, 1)}, 13, (), {"a": 9, "b": 4}),
    # ... they are: a loses as many ready pods as b gained; b grows at the next step, into the room
    # a's pods free (so the total stays within the budget in whatever order the two are written).
    ({"a": 0, "b": 10}, {"a": P(9, 9), "b": P(4, 4)}, 13, (), {"a": 6, "b": 4}),
    ({"a": 0, "b": 10}, {"a": P(6, 6), "b": P(4, 4)}, 13, (), {"a": 6, "b": 7}),
    # A Deployment's status lagging its spec never counts more ready pods than it wants.
    ({"a": 0, "b": 10}, {"a": P(6, 9), "b": P(7, 4)}, 13, (), {"a": 6, "b": 7}),
    # Pods that are not ready go first, whatever the others do.
    ({"a": 2, "b": 8}, {"a": P(5, 2), "b": P(5, 5)}, 13, (), {"a": 2, "b": 8}),
    # Scaling down: every track at once, as far as the ready pods exceed the new total.
    ({"a": 2, "b": 2}, {"a": P(5, 5), "b": P(5, 5)}, 5, (), {"a": 2, "b": 2}),
    # Scaling up: at once (the budget counts the new total).
    ({"a": 5, "b": 5}, {"a": P(2, 2), "b": P(2, 2)}, 13, (), {"a": 5, "b": 5}),
    # A held track keeps its pods (the live Service still sends it the traffic).
    ({"a": 4, "b": 0}, {"a": P(4, 4), "b": P(4, 4)}, 5, {"b"}, {"a": 4, "b": 4}),
    # Over budget (after a failover): no track grows until others shrink.
    ({"a": 4, "b": 4}, {"a": P(4, 0), "b": P(8, 8)}, 10, {"b"}, {"a": 4, "b": 8}),
    # A track that is not in the targets any more is left alone here.
    ({"a": 4}, {"a": P(4, 4), "gone": P(3, 3)}, 5, (), {"a": 4}),
])
def test_step(targets: dict[str, int], now: dict[str, TrackPods], budget: int, hold: tuple[str, ...],
              expected: dict[str, int]) -> None:
    assert step(targets, now, budget, frozenset(hold)) == expected


def _play(targets: dict[str, int], start: dict[str, int], budget: int) -> list[dict[str, int]]:
    """Every step until the targets, with each step's new pods becoming ready before the next one."""
    wanted, ready, steps = dict(start), dict(start), []
    for _ in range(50):
        ready = {n: min(ready.get(n, 0), w) for n, w in wanted.items()}  # pods removed are gone
        assert sum(ready.values()) >= min(sum(start.values()), sum(targets.values())), (steps, ready)
        before = wanted
        wanted = step(targets, {n: TrackPods(w, ready[n]) for n, w in wanted.items()}, budget)
        assert sum(max(before.get(n, 0), w) for n, w in wanted.items()) <= budget  # any write order
        steps.append(wanted)
        if wanted == targets:
            return steps
        ready = dict(wanted)  # the new pods start
    raise AssertionError(f"no convergence: {steps}")


@pytest.mark.parametrize(("start", "targets", "surge"), [
    ({"a": 9, "b": 1}, {"a": 0, "b": 10}, 3),
    ({"a": 0, "b": 10}, {"a": 9, "b": 1}, 3),
    ({"a": 5, "b": 5, "c": 0}, {"a": 0, "b": 2, "c": 8}, 1),
    ({"a": 1, "b": 1}, {"a": 0, "b": 2}, 1),
])
def test_a_whole_move_never_lowers_the_ready_pods_and_stays_within_the_budget(
        start: dict[str, int], targets: dict[str, int], surge: int) -> None:
    steps = _play(targets, start, sum(targets.values()) + surge)
    assert steps[-1] == targets and len(steps) > 1
