"""Reuse math: exact on the polynomials each mode assumes, and safe on short or degenerate histories."""

import pytest
import torch

from afterburner.py.cache.reuse import FeatureHistory


def history_of(f, sigmas, depth=3):
    history = FeatureHistory(depth)
    for s in sigmas:
        history.push(torch.tensor(s), f(s))
    return history


def test_default_returns_the_newest_value_exactly():
    history = history_of(lambda s: torch.full((2, 3), s), [0.9, 0.7])
    assert torch.equal(history.predict(torch.tensor(0.5), "default"), torch.full((2, 3), 0.7))


def test_taylor_recovers_a_quadratic_in_sigma_from_uneven_steps():
    base = torch.randn(4, 5)
    f = lambda s: base * (1 + 2 * s - 3 * s * s)  # noqa: E731
    history = history_of(f, [0.99, 0.95, 0.8, 0.5])  # uneven spacing, as after skipped steps
    got = history.predict(torch.tensor(0.3), "taylor", order=2)
    torch.testing.assert_close(got, f(0.3), rtol=1e-5, atol=1e-5)


def linear_extrapolation(history, sigma):
    return history.predict(torch.tensor(sigma), "taylor", order=1)


def test_taylor_order_two_stays_linear_until_its_curvature_has_forecast_a_computed_value():
    history = history_of(lambda s: torch.full((3,), 1 + 2 * s - 3 * s * s), [0.95, 0.8, 0.5])
    assert torch.equal(history.predict(torch.tensor(0.3), "taylor", order=2), linear_extrapolation(history, 0.3))


def test_taylor_drops_a_curvature_that_forecast_the_wrong_way():
    # The second-order term of the first three values bends down; the newest value lies above the line.
    values = {0.9: 0.0, 0.8: 1.0, 0.7: 1.5, 0.6: 2.1}
    history = history_of(lambda s: torch.full((3,), values[s]), list(values))
    assert torch.equal(history.predict(torch.tensor(0.4), "taylor", order=2), linear_extrapolation(history, 0.4))


def test_taylor_takes_the_share_of_a_curvature_that_overshot():
    # The newest value lies halfway between the linear and the quadratic forecast made from the three before it.
    f = lambda s: 1 + 2 * s - 3 * s * s  # noqa: E731
    linear = f(0.7) + (0.6 - 0.7) * (f(0.7) - f(0.8)) / (0.7 - 0.8)
    values = {0.9: f(0.9), 0.8: f(0.8), 0.7: f(0.7), 0.6: (linear + f(0.6)) / 2}
    history = history_of(lambda s: torch.full((3,), values[s], dtype=torch.float64), list(values))
    (s0, s1, s2), (g0, g1, g2) = (0.6, 0.7, 0.8), (values[0.6], values[0.7], values[0.8])
    second = ((g0 - g1) / (s0 - s1) - (g1 - g2) / (s1 - s2)) / (s0 - s2) * (0.5 - s0) * (0.5 - s1)
    got = history.predict(torch.tensor(0.5), "taylor", order=2)
    torch.testing.assert_close(got, linear_extrapolation(history, 0.5) + 0.5 * second, rtol=1e-5, atol=1e-6)


def test_taylor_order_one_is_linear_extrapolation():
    base = torch.randn(3)
    history = history_of(lambda s: base * s, [0.9, 0.6], depth=2)
    torch.testing.assert_close(history.predict(torch.tensor(0.2), "taylor", order=1), base * 0.2)


def test_adams_bashforth_is_the_mean_of_the_linear_extrapolation_over_the_interval():
    base = torch.randn(3)
    history = history_of(lambda s: base * s, [0.9, 0.6], depth=2)
    # mean of base*s over s in [0.6, 0.2] is base*0.4
    torch.testing.assert_close(history.predict(torch.tensor(0.2), "adams_bashforth"), base * 0.4)


@pytest.mark.parametrize("mode", ["taylor", "adams_bashforth"])
def test_one_value_and_repeated_sigmas_fall_back_without_nan(mode):
    single = history_of(lambda s: torch.ones(2) * s, [0.5])
    assert torch.equal(single.predict(torch.tensor(0.1), mode), torch.full((2,), 0.5))
    repeated = history_of(lambda s: torch.ones(2), [0.5, 0.5, 0.5])
    assert torch.isfinite(repeated.predict(torch.tensor(0.1), mode)).all()


def test_depth_bounds_memory_and_offload_keeps_values_on_cpu():
    history = history_of(lambda s: torch.zeros(10, dtype=torch.float32), [0.9, 0.8, 0.7, 0.6], depth=2)
    assert len(history) == 2 and history.nbytes() == 2 * 10 * 4
    offloaded = FeatureHistory(1, offload=True)
    offloaded.push(torch.tensor(0.5), torch.ones(3))
    assert offloaded.predict(torch.tensor(0.4), "default").device.type == "cpu"


def test_values_of_one_group_replace_each_other_so_extrapolation_sees_distinct_sigmas():
    base = torch.randn(3)
    history = FeatureHistory(2)
    history.push(torch.tensor(0.9), base * 0.9, group=1)
    history.push(torch.tensor(0.6), base * 99.0, group=2)  # superseded within its step, as Heun does
    history.push(torch.tensor(0.6), base * 0.6, group=2)
    assert len(history) == 2
    torch.testing.assert_close(history.predict(torch.tensor(0.2), "taylor", order=1), base * 0.2)
