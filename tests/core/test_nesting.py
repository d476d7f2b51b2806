"""The one depth limit: counted in levels of objects and lists, without recursion, refused by name."""

from __future__ import annotations

from collections import OrderedDict

import orjson
import pytest

from mova_core.model.errors import InvalidInput
from mova_core.model.nesting import MAX_DOCUMENT_DEPTH, MAX_VALUE_DEPTH, check_depth, depth_exceeds


def _nested(levels: int, leaf=1):
    value = leaf
    for _ in range(levels):
        value = {"a": value}
    return value


@pytest.mark.parametrize("value, depth", [
    (1, 0), ("text", 0), (None, 0), ({}, 1), ([], 1), ({"a": [1]}, 2), ([[1], {"a": [2]}], 3),
    ((({"a": 1},),), 3), (OrderedDict(a=[{}]), 3), (_nested(200), 200), (_nested(199, []), 200),
])
def test_depth_is_levels_of_objects_and_lists(value, depth):
    assert not depth_exceeds(value, depth)
    assert depth == 0 or depth_exceeds(value, depth - 1)


def test_far_deeper_than_the_stack_is_counted_without_recursion():
    value: list = []
    for _ in range(200_000):
        value = [value]
    assert depth_exceeds(value)


def test_the_value_limit_leaves_room_below_what_the_writers_accept():
    # A value at the limit, inside an entry or a run record (a few levels more), stays writable.
    orjson.dumps({"entry": {"context": {"results": {"a": {"output": {"body": _nested(MAX_VALUE_DEPTH)}}}}}})
    assert MAX_VALUE_DEPTH + 10 < MAX_DOCUMENT_DEPTH
    with pytest.raises(orjson.JSONEncodeError):
        orjson.dumps(_nested(MAX_DOCUMENT_DEPTH + 1))


def test_check_depth_names_where():
    assert check_depth(_nested(3), "x") == _nested(3)
    with pytest.raises(InvalidInput, match=r"^overrides.variables.x: nested too deeply \(more than 200 levels"):
        check_depth(_nested(201), "overrides.variables.x")
