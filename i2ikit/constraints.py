"""Declared ranges and choices for method hyper-parameters.

A method states what its keyword arguments may be, next to their defaults::

    class FUNIT(Method):
        constraints = {"nf": Range(ge=1), "lr_gen": Range(gt=0), "ema_decay": Range(ge=0, le=1),
                       "init": OneOf(INIT_TYPES)}

The recipe validator and :func:`i2ikit.build` check these before anything is built, so ``nf=-4``
is an error naming the method and the key, not a traceback from deep inside ``torch.nn.Conv2d``.
Types come from the ``__init__`` signature (its annotations or defaults); constraints add what a type
cannot say. ``None`` always passes (a method that takes ``None`` says so in its signature).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable, Mapping


@dataclass(frozen=True)
class Range:
    """A number within bounds: ``ge``/``gt`` below, ``le``/``lt`` above (each optional)."""

    ge: float | None = None
    gt: float | None = None
    le: float | None = None
    lt: float | None = None

    def problem(self, value: Any) -> str | None:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return f"must be a number {self}"
        if value != value:  # NaN
            return f"must be a number {self}, not NaN"
        if ((self.ge is not None and value < self.ge) or (self.gt is not None and value <= self.gt)
                or (self.le is not None and value > self.le) or (self.lt is not None and value >= self.lt)):
            return f"must be {self}"
        return None

    def __str__(self) -> str:
        low = f">= {self.ge:g}" if self.ge is not None else f"> {self.gt:g}" if self.gt is not None else ""
        high = f"<= {self.le:g}" if self.le is not None else f"< {self.lt:g}" if self.lt is not None else ""
        return " and ".join(p for p in (low, high) if p) or "any number"


@dataclass(frozen=True)
class OneOf:
    """One of a fixed set of values (e.g. an initialisation scheme's name)."""

    options: tuple[Any, ...]

    def __init__(self, options: Iterable[Any]) -> None:
        object.__setattr__(self, "options", tuple(options))

    def problem(self, value: Any) -> str | None:
        return None if value in self.options else f"must be one of {', '.join(map(repr, self.options))}"

    def __str__(self) -> str:
        return f"one of {', '.join(map(repr, self.options))}"


positive = Range(gt=0)
non_negative = Range(ge=0)
at_least_one = Range(ge=1)
unit_interval = Range(ge=0, le=1)


def constraint_problems(constraints: Mapping[str, Any], values: Mapping[str, Any], *,
                        skip: Iterable[Any] = ("auto",)) -> list[tuple[str, Any, str]]:
    """``(key, value, problem)`` for every value that breaks its constraint. Lists and tuples are checked
    element by element; ``None`` and the ``skip`` values (``auto``, filled from the data later) pass."""
    skipped = list(skip)
    out = []
    for key, rule in constraints.items():
        if key not in values:
            continue
        value = values[key]
        items = value if isinstance(value, (list, tuple)) and not isinstance(rule, OneOf) else [value]
        for item in items:
            if item is None or any(item is s or (isinstance(s, str) and item == s) for s in skipped):
                continue
            problem = rule.problem(item)
            if problem:
                out.append((key, value, problem))
                break
    return out
