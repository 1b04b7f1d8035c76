"""A request that cannot work is refused when it is made, and the message names the field and what it accepts."""

from __future__ import annotations

import copy
import math

import pytest

from afterburner.py.cache.config import CacheConfig, Cut
from afterburner.py.cache.policies import Budget, Guard, Periodic, Threshold
from afterburner.py.capability import ConfigError, Params

BAD = [
    (lambda: CacheConfig("x", {}, Threshold(0.1), reuse="magic"), "cache_mode", "default, taylor, adams_bashforth"),
    (lambda: CacheConfig("x", {}, Threshold(0.1), signal="none"), "signal", "input, first_block"),
    (lambda: CacheConfig("x", {}, Budget(0.5), signal="noise"), "signal", "none, input, first_block"),
    (lambda: CacheConfig("x", {}, Periodic(), signal="none", taylor_order=3), "taylor_order", "1 or 2"),
    (lambda: CacheConfig("x", {}, Periodic(), signal="none", min_steps=0), "min_steps", "at least 1"),
    (lambda: Threshold(math.nan), "threshold", "finite number at least 0"),
    (lambda: Threshold(-0.1), "threshold", "finite number at least 0"),
    (lambda: Threshold(math.inf), "threshold", "finite number at least 0"),
    (lambda: Budget(1.5), "fraction", "from 0 to 1"),
    (lambda: Budget(math.nan), "fraction", "from 0 to 1"),
    (lambda: Periodic(interval=0), "interval", "at least 1"),
    (lambda: Periodic(start_step=-1), "start_step", "at least 0"),
    (lambda: Guard(start=math.nan), "start", "from 0 to 1"),
    (lambda: Guard(start=0.8, end=0.2), "start", "after end"),
    (lambda: Guard(max_consecutive=-2), "max_consecutive", "at least -1"),
    (lambda: Cut(first_blocks=-1), "first_blocks", "at least 0"),
]


@pytest.mark.parametrize(("make", "field", "accepts"), BAD, ids=[f"{field}-{i}" for i, (_, field, _) in enumerate(BAD)])
def test_a_bad_request_names_its_field_and_what_it_accepts(make, field, accepts):
    with pytest.raises(ConfigError) as caught:
        make()
    assert caught.value.field == field
    assert str(caught.value).startswith(f"{field} ") and accepts in str(caught.value)


def test_a_good_request_keeps_its_params_read_only_through_a_deep_copy():
    config = CacheConfig("auto", {"speed_factor": 0.5}, Budget(0.5))
    assert isinstance(config.params, Params) and dict(config.params) == {"speed_factor": 0.5}
    with pytest.raises(TypeError):
        config.params["speed_factor"] = 1.0  # type: ignore[index]
    assert copy.deepcopy(config) == config  # ComfyUI deep-copies model options on every clone
