from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from microservice_operator.apportion import apportion, apportion_serving, effective_weights


@pytest.mark.parametrize(("replicas", "weights", "expected"), [
    (10, [90, 10], [9, 1]),
    (7, [60, 30, 10], [4, 2, 1]),
    (4, [70, 30], [3, 1]),
    (7, [0, 50, 50], [0, 4, 3]),
    (1, [50, 50], [1, 0]),          # tie: the earlier track wins
    (0, [90, 10], [0, 0]),
    (3, [100], [3]),
    (5, [100, 0], [5, 0]),
    (10, [34, 33, 33], [4, 3, 3]),
])
def test_largest_remainder_table(replicas: int, weights: list[int], expected: list[int]) -> None:
    assert apportion(replicas, weights) == expected


def test_all_zero_weights_with_replicas_is_an_error() -> None:
    with pytest.raises(ValueError, match="all 0"):
        apportion(3, [0, 0])
    assert apportion(0, [0, 0]) == [0, 0]


def test_negative_input_is_an_error() -> None:
    with pytest.raises(ValueError):
        apportion(-1, [100])


weights_summing_to_100 = st.lists(st.integers(0, 100), min_size=1, max_size=10).filter(
    lambda ws: 0 < sum(ws) <= 100).map(lambda ws: [*ws[:-1], ws[-1] + 100 - sum(ws)])


@given(replicas=st.integers(0, 1000), weights=weights_summing_to_100)
def test_properties(replicas: int, weights: list[int]) -> None:
    result = apportion(replicas, weights)
    assert sum(result) == replicas
    assert all(n >= 0 for n in result)
    assert all(n == 0 for n, w in zip(result, weights, strict=True) if w == 0)
    # never further than one replica from the exact quota
    assert all(abs(n - replicas * w / 100) < 1 for n, w in zip(result, weights, strict=True))


@pytest.mark.parametrize(("ready", "expected"), [
    ([9, 1], [90, 10]),
    ([2, 1], [67, 33]),
    ([0, 0], [0, 0]),
    ([0, 4], [0, 100]),
])
def test_effective_weights(ready: list[int], expected: list[int]) -> None:
    assert effective_weights(ready) == expected


@pytest.mark.parametrize(("total", "weights", "expected"), [
    (2, [99, 1], [1, 1]),            # the 1 % canary with two pods
    (10, [90, 10], [9, 1]),          # as apportion when every track with traffic has a pod anyway
    (3, [50, 30, 20], [1, 1, 1]),
    (3, [98, 1, 1], [1, 1, 1]),
    (2, [98, 1, 1], [1, 1, 0]),      # fewer replicas than tracks with traffic
    (4, [100, 0], [4, 0]),           # a weight of 0 still gets nothing
    (0, [99, 1], [0, 0]),
])
def test_apportion_serving_keeps_a_pod_for_every_track_with_traffic(total: int, weights: list[int],
                                                                      expected: list[int]) -> None:
    assert apportion_serving(total, weights) == expected
    assert sum(expected) == total
