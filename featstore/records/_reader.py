"""Reading stored bodies: :class:`_Reader` checks a JSON object key by key, and every
problem is a :class:`~featstore.errors.CatalogError` naming the record and the key (the
catalog is damaged), never ``KeyError``; :func:`damage` is what such an error says is
wrong."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from datetime import datetime
from typing import Any, TypeVar

from featstore.errors import CatalogError
from featstore.records._values import FrozenMap, freeze_json

__all__ = ["damage"]

T = TypeVar("T")


_INSTANT = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{6}")
_BUCKET = re.compile(r"[0-9]{4}-[0-9]{2}")

_RESTORE = "restore catalog.db from a backup"
_REAPPLY = "apply the definition again to rewrite it, or restore catalog.db from a backup"


_JSON_TYPES = {
    bool: "boolean",
    int: "integer",
    float: "number",
    str: "string",
    list: "array",
    dict: "object",
}


def _shown(value: object) -> str:
    if value is None:
        return "null"
    kind = _JSON_TYPES.get(type(value), type(value).__name__)
    return f"{kind} {value!r:.60}"


class _Reader:
    """One JSON object of a stored body, read key by key; every problem is a
    CatalogError naming the record (``what``) and the key."""

    __slots__ = ("_data", "_hint", "_prefix", "_seen", "_what")

    def __init__(self, data: object, what: str, hint: str, prefix: str = "") -> None:
        self._what, self._hint, self._prefix = what, hint, prefix
        if not isinstance(data, dict):
            where = f"its {prefix[:-1]!r}" if prefix else "it"
            raise self.error(f"{where} is {_shown(data)}, not a JSON object")
        self._data: dict[str, Any] = data
        self._seen: set[str] = set()

    def error(self, problem: str) -> CatalogError:
        return _Damaged(
            f"the catalog record of {self._what} is damaged: {problem}; {self._hint}", problem
        )

    def bad(self, key: str, value: object, expected: str) -> CatalogError:
        return self.error(f"its {self._prefix + key!r} is {_shown(value)}, expected {expected}")

    def has(self, key: str) -> bool:
        return key in self._data

    def optional(self, key: str, read: Callable[[str], T]) -> T | None:
        """``read(key)`` if the body has ``key`` (one added in a later release), else None."""
        return read(key) if key in self._data else None

    def raw(self, key: str) -> Any:
        if key not in self._data:
            raise self.error(f"it lacks key {self._prefix + key!r}")
        self._seen.add(key)
        return self._data[key]

    def done(self) -> None:
        extra = sorted(str(k) for k in self._data if k not in self._seen)
        if extra:
            more = f" (and {len(extra) - 1} more)" if len(extra) > 1 else ""
            raise self.error(f"it has unknown key {self._prefix + extra[0]!r}{more}")

    # scalars

    def text(self, key: str) -> str:
        value = self.raw(key)
        if not isinstance(value, str):
            raise self.bad(key, value, "a string")
        return value

    def text_or_none(self, key: str) -> str | None:
        value = self.raw(key)
        if value is not None and not isinstance(value, str):
            raise self.bad(key, value, "a string or null")
        return value

    def integer(self, key: str) -> int:
        value = self.raw(key)
        if type(value) is not int:
            raise self.bad(key, value, "an integer")
        return value

    def integer_or_none(self, key: str) -> int | None:
        value = self.raw(key)
        if value is not None and type(value) is not int:
            raise self.bad(key, value, "an integer or null")
        return value

    def flag(self, key: str) -> bool:
        value = self.raw(key)
        if type(value) is not bool:
            raise self.bad(key, value, "true or false")
        return value

    def flag_or_none(self, key: str) -> bool | None:
        value = self.raw(key)
        if value is not None and type(value) is not bool:
            raise self.bad(key, value, "true, false or null")
        return value

    def active(self, key: str) -> bool:
        """A flag stored as SQLite's 0 / 1 (or true / false)."""
        value = self.raw(key)
        if value not in (0, 1) or type(value) not in (int, bool):
            raise self.bad(key, value, "0 or 1")
        return bool(value)

    def choice(self, key: str, options: tuple[str, ...]) -> str:
        value = self.raw(key)
        if value not in options or not isinstance(value, str):
            raise self.bad(key, value, "one of " + ", ".join(repr(o) for o in options))
        return value

    def instant(self, key: str) -> str:
        value = self.raw(key)
        if not isinstance(value, str) or not _INSTANT.fullmatch(value):
            raise self.bad(key, value, "an instant such as '2024-01-31T00:00:00.000000'")
        return value

    def instant_or_none(self, key: str) -> str | None:
        return None if self.raw(key) is None else self.instant(key)

    def moment(self, key: str) -> datetime:
        text = self.instant(key)
        try:
            return datetime.fromisoformat(text)
        except ValueError:
            raise self.bad(key, text, "a valid instant") from None

    def bucket(self, key: str) -> str:
        value = self.raw(key)
        if not isinstance(value, str) or not _BUCKET.fullmatch(value):
            raise self.bad(key, value, "a month such as '2024-01'")
        return value

    # collections

    def texts(self, key: str) -> tuple[str, ...]:
        value = self.raw(key)
        if not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value):
            raise self.bad(key, value, "an array of strings")
        return tuple(value)

    def texts_or_none(self, key: str) -> tuple[str, ...] | None:
        return None if self.raw(key) is None else self.texts(key)

    def text_map(self, key: str) -> FrozenMap[str]:
        value = self.raw(key)
        if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
            raise self.bad(key, value, "an object of strings")
        return FrozenMap(value)

    def number_map(self, key: str) -> FrozenMap[float]:
        value = self.raw(key)
        if not isinstance(value, dict) or not all(type(v) in (int, float) for v in value.values()):
            raise self.bad(key, value, "an object of numbers")
        return FrozenMap(value)

    def integer_map(self, key: str) -> FrozenMap[int]:
        value = self.raw(key)
        if not isinstance(value, dict) or not all(type(v) is int for v in value.values()):
            raise self.bad(key, value, "an object of integers")
        return FrozenMap(value)

    def rest(self, *exclude: str) -> dict[str, Any]:
        """Every key but ``exclude`` (each counted as read), for a nested decoder."""
        out = {k: v for k, v in self._data.items() if k not in exclude}
        self._seen.update(out)
        return out

    def json_map(self, key: str) -> FrozenMap[Any]:
        value = self.raw(key)
        if not isinstance(value, dict):
            raise self.bad(key, value, "an object")
        frozen: FrozenMap[Any] = freeze_json(value)
        return frozen

    def nested(self, key: str, read: Callable[[_Reader], T]) -> T:
        sub = _Reader(self.raw(key), self._what, self._hint, f"{self._prefix}{key}.")
        out = read(sub)
        sub.done()
        return out

    def nested_or_none(self, key: str, read: Callable[[_Reader], T]) -> T | None:
        return None if self.raw(key) is None else self.nested(key, read)

    def nested_list(self, key: str, read: Callable[[_Reader], T]) -> tuple[T, ...]:
        value = self.raw(key)
        if not isinstance(value, list | tuple):
            raise self.bad(key, value, "an array of objects")
        out = []
        for i, item in enumerate(value):
            sub = _Reader(item, self._what, self._hint, f"{self._prefix}{key}[{i}].")
            out.append(read(sub))
            sub.done()
        return tuple(out)


def _label(kind: str, data: object, *keys: str) -> str:
    """``kind 'name'`` for error messages, from the body's identifying keys if readable."""
    if not isinstance(data, dict):
        return kind
    parts = [
        str(data[k])
        for k in keys
        if isinstance(data.get(k), str | int) and not isinstance(data.get(k), bool)
    ]
    return f"{kind} {'@'.join(parts)!r}" if parts else kind


def _decode(data: object, what: str, hint: str, read: Callable[[_Reader], T]) -> T:
    reader = _Reader(data, what, hint)
    out = read(reader)
    reader.done()
    return out


def _parse(text: str | bytes, what: str, hint: str) -> Any:
    try:
        return json.loads(text)
    except (ValueError, RecursionError) as exc:
        problem = f"not JSON: {exc}"
        raise _Damaged(
            f"the catalog record of {what} is damaged ({problem}); {hint}", problem
        ) from None


class _Damaged(CatalogError):
    """The CatalogError a codec raises; ``problem`` is what is wrong with the record,
    without its name or the remedy (:func:`damage`)."""

    def __init__(self, message: str, problem: str) -> None:
        super().__init__(message)
        self.problem = problem


def damage(error: CatalogError) -> str:
    """What a codec's CatalogError says is wrong with the record (``"it lacks key
    'name'"``), for a caller that names the record its own way; the whole message for
    any other CatalogError."""
    return error.problem if isinstance(error, _Damaged) else str(error)
