"""Immutable JSON values: :class:`FrozenMap` and the deep freeze / thaw of a JSON value.

Records hold these in place of lists and dicts, so every record is hashable.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import Any, TypeVar

__all__ = ["FrozenMap", "freeze_json", "thaw_json"]

V_co = TypeVar("V_co", covariant=True)


class FrozenMap(Mapping[str, V_co]):
    """A read-only, hashable mapping with string keys; equal to any mapping (a ``dict``
    included) with the same items, whatever their order. Compared with a mapping that is
    not a FrozenMap, JSON arrays are equal as lists or tuples alike, so a frozen JSON
    object equals the plain one it came from.

    >>> FrozenMap({"b": 1, "a": 2}) == {"a": 2, "b": 1}
    True
    >>> freeze_json({"layers": [8, 4]}) == {"layers": [8, 4]}
    True
    """

    __slots__ = ("_data", "_hash")

    def __init__(self, items: Mapping[str, V_co] | Iterable[tuple[str, V_co]] = ()) -> None:
        self._data: dict[str, V_co] = dict(items)
        self._hash: int | None = None

    def __getitem__(self, key: str) -> V_co:
        return self._data[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)

    def __contains__(self, key: object) -> bool:
        return key in self._data

    def __eq__(self, other: object) -> bool:
        if isinstance(other, FrozenMap):
            return self._data == other._data
        if isinstance(other, Mapping):
            return bool(thaw_json(self._data) == thaw_json(other))
        return NotImplemented

    def __hash__(self) -> int:
        if self._hash is None:
            self._hash = hash(frozenset(self._data.items()))
        return self._hash

    def __repr__(self) -> str:
        return f"FrozenMap({self._data!r})"


def freeze_json(value: Any) -> Any:
    """A JSON value made immutable: objects become :class:`FrozenMap`, arrays tuples."""
    if isinstance(value, FrozenMap):
        return value
    if isinstance(value, Mapping):
        return FrozenMap({k: freeze_json(v) for k, v in value.items()})
    if isinstance(value, list | tuple):
        return tuple(freeze_json(v) for v in value)
    return value


def thaw_json(value: Any) -> Any:
    """The inverse of :func:`freeze_json`: plain dicts and lists, ready for ``json``."""
    if isinstance(value, Mapping):
        return {k: thaw_json(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [thaw_json(v) for v in value]
    return value
