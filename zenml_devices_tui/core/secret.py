"""A string type for secrets whose repr and str never show the value.

Textual's crash screen and Python tracebacks print local variables; a token held in a
``Secret`` shows up there as ``Secret('***')`` and nothing more.
"""

from __future__ import annotations


class Secret:
    """Holds a secret string. Only :meth:`reveal` gives the value back."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        if isinstance(value, Secret):
            value = value.reveal()
        if not isinstance(value, str):
            raise TypeError("Secret holds a string")
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('***')"

    __str__ = __repr__

    def __format__(self, spec: str) -> str:
        return repr(self)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Secret):
            return self._value == other._value
        return NotImplemented

    def __hash__(self) -> int:
        return hash(("Secret", self._value))

    def __bool__(self) -> bool:
        return bool(self._value)

    def __reduce__(self):  # never pickled or copied into logs by accident
        raise TypeError("Secret values cannot be pickled")
