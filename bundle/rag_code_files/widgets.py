"""Typed access to notebook parameters, with errors that name the parameter."""

from __future__ import annotations


def get_int(dbutils, name: str, minimum: int | None = None) -> int:
    raw = dbutils.widgets.get(name)
    try:
        value = int(raw)
    except ValueError:
        raise ValueError(f"parameter {name!r} must be an integer, got {raw!r}") from None
    if minimum is not None and value < minimum:
        raise ValueError(f"parameter {name!r} must be at least {minimum}, got {value}")
    return value


def get_float(dbutils, name: str) -> float:
    raw = dbutils.widgets.get(name)
    try:
        return float(raw)
    except ValueError:
        raise ValueError(f"parameter {name!r} must be a number, got {raw!r}") from None
