"""The circuit breaker's state machine, on a fake clock: closed -> open -> half-open -> closed or open."""

from __future__ import annotations

import pytest

from router.breaker import Breaker, Breakers


class Clock:
    """A clock that moves only when the test says so."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def breaker(clock: Clock) -> Breaker:
    return Breaker(failure_threshold=3, cooldown_s=30.0, clock=clock)


def fail(breaker: Breaker, times: int) -> None:
    for _ in range(times):
        breaker.begin()
        breaker.failed()


def test_a_new_breaker_is_closed_and_allows_calls(breaker: Breaker) -> None:
    assert breaker.state == "closed" and breaker.allows()


def test_it_opens_after_threshold_consecutive_failures(breaker: Breaker) -> None:
    fail(breaker, 2)
    assert breaker.state == "closed" and breaker.allows()
    fail(breaker, 1)
    assert breaker.state == "open" and not breaker.allows()


def test_a_success_resets_the_failure_count(breaker: Breaker) -> None:
    fail(breaker, 2)
    breaker.begin()
    breaker.succeeded()
    fail(breaker, 2)
    assert breaker.state == "closed"


def test_it_stays_open_until_the_cooldown_has_passed(breaker: Breaker, clock: Clock) -> None:
    fail(breaker, 3)
    clock.now += 29.9
    assert breaker.state == "open" and not breaker.allows()
    clock.now += 0.1
    assert breaker.state == "half-open" and breaker.allows()


def test_half_open_lets_exactly_one_probe_through(breaker: Breaker, clock: Clock) -> None:
    fail(breaker, 3)
    clock.now += 30
    breaker.begin()
    assert breaker.state == "half-open" and not breaker.allows()


def test_a_successful_probe_closes_it(breaker: Breaker, clock: Clock) -> None:
    fail(breaker, 3)
    clock.now += 30
    breaker.begin()
    breaker.succeeded()
    assert breaker.state == "closed" and breaker.allows()
    fail(breaker, 2)
    assert breaker.state == "closed"  # the count started again from zero


def test_a_failed_probe_opens_it_again_for_a_whole_cooldown(breaker: Breaker, clock: Clock) -> None:
    fail(breaker, 3)
    clock.now += 30
    fail(breaker, 1)
    assert breaker.state == "open" and not breaker.allows()
    clock.now += 29
    assert breaker.state == "open"
    clock.now += 1
    assert breaker.state == "half-open" and breaker.allows()


def test_one_failed_probe_reopens_it_even_with_a_high_threshold(clock: Clock) -> None:
    breaker = Breaker(failure_threshold=5, cooldown_s=10.0, clock=clock)
    fail(breaker, 5)
    clock.now += 10
    breaker.begin()
    breaker.succeeded()
    fail(breaker, 4)
    clock.now += 100
    assert breaker.state == "closed"  # four failures after closing stay below the threshold
    fail(breaker, 1)
    clock.now += 10
    fail(breaker, 1)  # the probe
    assert breaker.state == "open"


def test_an_abandoned_probe_frees_the_slot_without_a_verdict(breaker: Breaker, clock: Clock) -> None:
    fail(breaker, 3)
    clock.now += 30
    breaker.begin()
    breaker.abandoned()  # e.g. the caller was cancelled mid-probe
    assert breaker.state == "half-open" and breaker.allows()


def test_abandoning_a_call_in_closed_state_changes_nothing(breaker: Breaker) -> None:
    fail(breaker, 2)
    breaker.begin()
    breaker.abandoned()
    fail(breaker, 1)
    assert breaker.state == "open"  # the abandoned call neither counted nor reset the failures


def test_breakers_are_per_provider_and_share_settings(clock: Clock) -> None:
    breakers = Breakers(failure_threshold=2, cooldown_s=5.0, clock=clock)
    assert breakers["a:x"] is breakers["a:x"] and breakers["a:x"] is not breakers["b:y"]
    assert (breakers["b:y"].failure_threshold, breakers["b:y"].cooldown_s) == (2, 5.0)
    fail(breakers["a:x"], 2)
    assert breakers.blocked() == {"a:x"}
    assert breakers["b:y"].allows()


def test_blocked_lists_open_breakers_and_half_open_ones_with_a_probe_out(clock: Clock) -> None:
    breakers = Breakers(failure_threshold=1, cooldown_s=5.0, clock=clock)
    fail(breakers["cooled:x"], 1)
    clock.now += 5
    fail(breakers["open:x"], 1)
    breakers["closed:x"].begin()
    assert breakers.blocked() == {"open:x"}  # cooled:x is half-open with no probe out yet
    breakers["cooled:x"].begin()
    assert breakers.blocked() == {"open:x", "cooled:x"}
