"""An object's URL without a ``reverse()`` per object: the URL conf is walked
once per view name (with example arguments), then each row's URL is a string
format. On a list page of 25 rows the reverses were a tenth of the server time."""

from __future__ import annotations

import uuid
from functools import cache
from urllib.parse import quote

from django.urls import get_script_prefix, reverse

# What reverse() leaves unquoted in an argument (RFC 3986 sub-delimiters and "/~:@").
SAFE = "!$&'()*+,;=/~:@"


def _example(index: int, kind: type) -> object:
    """An argument of the kind the URL's converter accepts, unmistakable in the result."""
    if issubclass(kind, uuid.UUID):
        return uuid.UUID(int=0xA7_0000 + index)
    if issubclass(kind, int):
        return 970_000_000 + index
    return f"zq{index}atriumzq"


@cache
def _pattern(prefix: str, name: str, kinds: tuple[type, ...]) -> str:
    examples = [_example(index, kind) for index, kind in enumerate(kinds)]
    url = reverse(name, args=examples).replace("{", "{{").replace("}", "}}")
    for index, example in enumerate(examples):
        url = url.replace(str(example), f"{{{index}}}", 1)
    return url


def url_for(name: str, *args) -> str:
    """``reverse(name, args=args)``, as reverse() would quote them, from a cached pattern."""
    pattern = _pattern(get_script_prefix(), name, tuple(type(a) for a in args))
    return pattern.format(*(quote(str(a), safe=SAFE) for a in args))
