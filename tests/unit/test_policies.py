"""Policies decide compute-or-reuse per step; the guard rails apply to every policy."""

import itertools
import math

import pytest

from afterburner.py.cache.policies import Budget, Guard, Periodic, PolicyState, Threshold, decide


def schedule(policy, total, signals=None, guard=None):
    state, reuses, out = PolicyState(), 0, []
    for step in range(total):
        signal = None if signals is None else signals[step]
        compute = decide(policy, guard or Guard(), step, total, signal, state, reuses)
        reuses = 0 if compute else reuses + 1
        out.append(compute)
    return out


def test_periodic_computes_every_interval_after_start_and_the_final_step():
    got = schedule(Periodic(interval=3, start_step=2), 12)
    assert [i for i, c in enumerate(got) if c] == [0, 1, 2, 5, 8, 11]


def test_interval_one_computes_every_step():
    assert all(schedule(Periodic(interval=1, start_step=0), 20))


def test_threshold_accumulates_the_signal_since_the_last_compute():
    # 0.004 per step against 0.01: compute, reuse, reuse, compute (0.012 >= 0.01), ...
    got = schedule(Threshold(0.01), 9, [None] + [0.004] * 8)
    assert got == [True, False, False, True, False, False, True, False, True]


def test_threshold_without_accumulation_compares_each_signal_alone():
    got = schedule(Threshold(0.01, accumulate=False), 6, [None, 0.004, 0.004, 0.02, 0.004, 0.004])
    assert got == [True, False, False, True, False, True]


def test_zero_threshold_never_reuses():
    assert all(schedule(Threshold(0.0, accumulate=False), 10, [None] + [0.0] * 9))


def test_guard_caps_consecutive_reuses_and_honours_the_window():
    got = schedule(Threshold(1.0), 10, [None] + [0.001] * 9, Guard(max_consecutive=2))
    assert got == [True, False, False, True, False, False, True, False, False, True]
    window = schedule(Periodic(interval=100, start_step=0), 10, guard=Guard(start=0.3, end=0.7))
    assert window == [True, True, True, False, False, False, False, True, True, True]


@pytest.mark.parametrize("fraction", [0.0, 0.2, 0.3, 0.5, 0.75, 1.0])
@pytest.mark.parametrize("total", [8, 20, 28, 50])
def test_budget_hits_its_target_within_one_step(fraction, total):
    signals = [None] + [0.01 * (1 + (i % 5)) for i in range(total - 1)]
    got = schedule(Budget(fraction), total, signals)
    target = max(2, round(fraction * total))
    assert abs(sum(got) - target) <= 1
    assert got[0] and got[-1]


def test_budget_places_its_computes_on_the_signal_spikes():
    total = 21
    signals = [None] + [0.5 if i % 4 == 0 else 0.001 for i in range(1, total)]
    got = schedule(Budget(0.3), total, signals)
    spikes = [i for i in range(1, total - 1) if i % 4 == 0]
    assert all(got[i] for i in spikes)
    assert sum(got) == math.ceil(0.3 * total)


def test_budget_paces_against_a_rising_signal_without_starving_the_final_steps():
    # A shifted flow schedule: the input changes about 1.5% a step at first and ten times that at the end.
    total = 28
    signals = [None] + [0.016 * 1.09**i for i in range(total - 1)]
    got = schedule(Budget(0.33), total, signals)
    computed = [i for i, c in enumerate(got) if c]
    gaps = [b - a for a, b in itertools.pairwise(computed)]
    assert sum(got) == math.ceil(0.33 * total)
    assert max(gaps[len(gaps) // 2:]) <= 3, f"computed steps {computed}"
