"""``${{ ... }}`` references in template step inputs.

A step's inputs may refer to the run's parameters (``${{ parameters.dataset }}``),
to an earlier step's outputs (``${{ steps.train.outputs.model_version }}``) and
to the run itself (``${{ run.id }}``). A string that is exactly one reference
takes the referenced value with its type; references inside a longer string are
interpolated as text. Only dotted lookups exist: nothing is evaluated.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import Any

REFERENCE = re.compile(r"\$\{\{\s*([A-Za-z_][\w-]*(?:\.[\w-]+)*)\s*\}\}")
ROOTS = ("parameters", "steps", "run")


class Unresolved(Exception):
    """A reference that cannot be resolved (yet)."""

    def __init__(self, path: str):
        super().__init__(path)
        self.path = path


class Missing:
    """An optional parameter the user left out: the input key is dropped."""


MISSING = Missing()


def references(value: Any, pointer: str = "") -> Iterator[tuple[str, str]]:
    """Every reference in ``value`` as (JSON pointer of the string, dotted path)."""
    if isinstance(value, str):
        for match in REFERENCE.finditer(value):
            yield pointer, match.group(1)
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from references(item, f"{pointer}/{key}")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from references(item, f"{pointer}/{index}")


def lookup(context: dict, path: str) -> Any:
    """The value at dotted ``path``; a missing top-level parameter is MISSING,
    anything else missing raises Unresolved."""
    parts = path.split(".")
    node: Any = context
    for depth, part in enumerate(parts):
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        elif parts[0] == "parameters" and depth == 1:
            return MISSING
        else:
            raise Unresolved(path)
    return node


def resolve(value: Any, context: dict, *, on_unresolved: Callable[[str], Any] | None = None) -> Any:
    """``value`` with every reference replaced. ``on_unresolved(path)`` gives a
    stand-in for a reference that cannot be resolved (a dry-run shows a
    placeholder); without it, Unresolved propagates."""

    def value_of(path: str) -> Any:
        try:
            return lookup(context, path)
        except Unresolved:
            if on_unresolved is None:
                raise
            return on_unresolved(path)

    if isinstance(value, str):
        whole = REFERENCE.fullmatch(value.strip())
        if whole:
            return value_of(whole.group(1))
        return REFERENCE.sub(lambda m: _text(value_of(m.group(1))), value)
    if isinstance(value, dict):
        resolved = {key: resolve(item, context, on_unresolved=on_unresolved) for key, item in value.items()}
        return {key: item for key, item in resolved.items() if item is not MISSING}
    if isinstance(value, list):
        return [
            item for item in (resolve(v, context, on_unresolved=on_unresolved) for v in value) if item is not MISSING
        ]
    return value


def _text(value: Any) -> str:
    return "" if value is MISSING or value is None else str(value)
