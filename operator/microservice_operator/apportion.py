"""Apportioning replicas over tracks by weight (largest-remainder method), and effective weights."""

from __future__ import annotations

from collections.abc import Sequence


def apportion(total: int, weights: Sequence[int]) -> list[int]:
    """Splits ``total`` replicas over tracks in proportion to ``weights``.

    Each track first gets floor(total * weight / sum); the replicas left over go one each to
    the largest fractional remainders, ties to the earlier track. A weight of 0 gets 0. The
    weights need not sum to 100 (failover redistributes over a subset), but must not all be 0
    unless ``total`` is 0.
    """
    weight_sum = sum(weights)
    if total < 0 or any(w < 0 for w in weights):
        raise ValueError("replicas and weights must not be negative")
    if weight_sum == 0:
        if total:
            raise ValueError("cannot apportion replicas over tracks whose weights are all 0")
        return [0] * len(weights)
    shares = [divmod(total * w, weight_sum) for w in weights]
    result = [quotient for quotient, _ in shares]
    leftover = total - sum(result)
    by_remainder = sorted(range(len(weights)), key=lambda i: (-shares[i][1], i))
    for i in by_remainder[:leftover]:
        result[i] += 1
    return result


def apportion_serving(total: int, weights: Sequence[int]) -> list[int]:
    """As :func:`apportion`, but every track of positive weight gets at least one replica when ``total``
    allows: each one taken from the track with the most (the earlier on a tie).

    For routers that split per request (an HTTPRoute's weights): a track with traffic and no pod would
    answer its share with errors, and a 1 % canary needs only one pod beside the stable one.
    """
    result = apportion(total, weights)
    for i, weight in enumerate(weights):
        if weight > 0 and result[i] == 0:
            donor = max(range(len(result)), key=lambda j: (result[j], -j))
            if result[donor] <= 1:
                break  # fewer replicas than tracks with traffic: nothing left to give
            result[donor] -= 1
            result[i] = 1
    return result


def effective_weights(ready: Sequence[int]) -> list[int]:
    """Each track's share of traffic in percent when kube-proxy spreads it over ready pods."""
    all_ready = sum(ready)
    if all_ready == 0:
        return [0] * len(ready)
    return [round(100 * r / all_ready) for r in ready]
