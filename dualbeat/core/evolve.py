"""``evolve``: ``dataclasses.replace`` for the core's frozen records, without re-running
``__init__``.

``decide`` derives a new ``NodeState`` several times per observation, and the simulator
feeds millions of observations; ``replace`` rebuilds all thirty-odd fields through
``__init__`` each time (ten times slower). The core's records have no ``__post_init__``
and no slots, so copying the instance dict is the same value. Type checkers see
``dataclasses.replace`` itself, so field names stay checked.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, Any, TypeVar

T = TypeVar("T")

if TYPE_CHECKING:
    evolve = replace
else:

    def evolve(obj: T, /, **changes: Any) -> T:
        new = object.__new__(type(obj))
        fields = new.__dict__
        fields.update(obj.__dict__)
        for name, value in changes.items():
            if name not in fields:
                raise TypeError(f"{type(obj).__name__} has no field {name!r}")
            fields[name] = value
        return new
