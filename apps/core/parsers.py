"""JSON input with bounds: a body size and a nesting depth.

Python's json module recurses once per level, so a body like ``[[[[...]]]]``
a few thousand levels deep raises RecursionError (a 500) before any
validation runs. Every JSON input the portal reads goes through here: DRF's
parser for the API, and :func:`parse_json` for JSON typed into HTML forms."""

import codecs
import json
from typing import Any

from django.conf import settings
from rest_framework import exceptions
from rest_framework.parsers import JSONParser
from rest_framework.settings import api_settings
from rest_framework.utils.json import strict_constant

MAX_DEPTH = 64


class JSONTooDeep(ValueError):
    """Raised for JSON nested deeper than the bound; a ValueError like any bad JSON."""

    def __init__(self, max_depth: int = MAX_DEPTH):
        super().__init__(f"JSON nested too deeply (at most {max_depth} levels).")


class RequestTooLarge(exceptions.APIException):
    status_code = 413
    default_code = "request_too_large"

    def __init__(self, limit: int):
        super().__init__(f"Request body too large (at most {limit} bytes).")


def depth_of(value: Any) -> int:
    """Nesting depth of parsed JSON, without recursion (a scalar is 0, ``[]`` is 1)."""
    deepest, stack = 0, [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            item = item.values()
        elif not isinstance(item, list):
            deepest = max(deepest, depth)
            continue
        depth += 1
        deepest = max(deepest, depth)
        stack.extend((child, depth) for child in item)
    return deepest


def parse_json(text: str | bytes, *, max_depth: int = MAX_DEPTH, **options) -> Any:
    """``json.loads`` that refuses nesting deeper than ``max_depth`` with a
    ValueError (JSONTooDeep), never a RecursionError."""
    try:
        value = json.loads(text, **options)
    except RecursionError:
        raise JSONTooDeep(max_depth) from None
    if depth_of(value) > max_depth:
        raise JSONTooDeep(max_depth)
    if _has_nul(value):
        # PostgreSQL stores no NUL in text: refused here, not a database error later
        raise ValueError("Text may not contain NUL characters (\\u0000).")
    return value


def _has_nul(value: Any) -> bool:
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if "\x00" in item:
                return True
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return False


def body_limit() -> int | None:
    return settings.DATA_UPLOAD_MAX_MEMORY_SIZE


class BoundedJSONParser(JSONParser):
    """DRF's JSON parser with a size limit (DATA_UPLOAD_MAX_MEMORY_SIZE, a 413)
    and a depth limit (a 400)."""

    def parse(self, stream, media_type=None, parser_context=None):
        if stream is None:
            return None
        limit = body_limit()
        raw = stream.read() if limit is None else stream.read(limit + 1)
        if limit is not None and len(raw) > limit:
            raise RequestTooLarge(limit)
        encoding = (parser_context or {}).get("encoding", settings.DEFAULT_CHARSET)
        try:
            text = codecs.decode(raw, encoding)
            options = {"parse_constant": strict_constant} if api_settings.STRICT_JSON else {}
            return parse_json(text, **options)
        except JSONTooDeep as exc:
            raise exceptions.ParseError(str(exc))
        except ValueError as exc:
            raise exceptions.ParseError(f"JSON parse error - {exc}")
