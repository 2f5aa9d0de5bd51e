"""The kept chart's key: the plain-type fast path of `_svg._frozen` gives what the general rule
(mappings to dicts, one-shot iterables to lists, anything else as it is) gives."""

from __future__ import annotations

import datetime as dt
from collections import OrderedDict
from collections.abc import Iterable, Mapping
from types import MappingProxyType
from typing import Any

import pytest

from governance.kernel.reports import _svg


def _general(value: Any) -> Any:
    """The rule before the fast path, by abstract types only."""
    if isinstance(value, Mapping):
        return {k: _general(v) for k, v in value.items()}
    if isinstance(value, Iterable) and not isinstance(value, str | bytes | tuple):
        return [_general(v) for v in value]
    return value


class Count(int):
    """An int subclass: not a plain type, so it takes the general path."""


DAY = dt.date(2026, 12, 6)

CASES: list[Any] = [
    {DAY - dt.timedelta(days=n): n * 1000 for n in range(30)},
    {"Dataset A": {"Active grants": 3.0, "Requests waiting": 1.0}, "B": {}},
    [(DAY, 1), (DAY, 2)],
    OrderedDict([("a", [1, 2, {"x": None}]), ("b", True)]),
    MappingProxyType({"a": b"bytes", "b": "text", "c": 1.5}),
    {dt.datetime(2026, 12, 6, 10, 0): Count(4), "set": {1, 2}},
    {"nested": {"deeper": [range(3), (1, [2])]}},
    "text",
    (1, 2),
    None,
    7,
]


@pytest.mark.parametrize("value", CASES)
def test_the_fast_path_freezes_as_the_general_rule_does(value: Any) -> None:
    frozen = _svg._frozen(value)
    assert frozen == _general(value)
    assert repr(frozen) == repr(_general(value))  # the cache's key is the repr
    assert type(frozen) is type(_general(value))


def test_one_shot_iterables_inside_a_plain_dict_are_made_lists() -> None:
    frozen = _svg._frozen({"days": iter([DAY, DAY])})
    assert frozen == {"days": [DAY, DAY]}
