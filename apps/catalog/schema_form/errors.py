"""Validation with ``jsonschema``: every error given to the field it concerns
(a dotted path, "" for the whole value) in words a user reads."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import best_match

from .schema import MAX_ITEMS, MAX_STRING, choices, label_of

TYPE_WORDS = {
    "integer": "a whole number",
    "number": "a number",
    "string": "text",
    "boolean": "true or false",
    "array": "a list",
    "object": "a group of fields",
    "null": "empty",
}
FORMAT_WORDS = {
    "email": "Enter a valid email address.",
    "uri": "Enter a valid URL.",
    "date": "Enter a valid date (YYYY-MM-DD).",
    "date-time": "Enter a valid date and time.",
    "ipv4": "Enter a valid IPv4 address.",
    "ipv6": "Enter a valid IPv6 address.",
    "uuid": "Enter a valid UUID.",
}


_CLASS = r"\[((?:[^\]\\]|\\.)+)\]"
_SIMPLE_PATTERN = re.compile(rf"^\^(?:{_CLASS})?{_CLASS}(\+|\*|\{{(\d+),(\d+)\}})\$$")


def _class_words(cls: str) -> str:
    """A regex character class in words: "A-Za-z0-9_.-" -> "letters, digits, '_', '.' or '-'"."""
    words, rest = [], cls
    for span, word in (
        ("A-Za-z", "letters"),
        ("a-z", "lower-case letters"),
        ("A-Z", "capital letters"),
        ("0-9", "digits"),
    ):
        if span in rest:
            rest = rest.replace(span, "", 1)
            if not (word.endswith("letters") and "letters" in words):
                words.append(word)
    words.extend(f"'{char}'" for char in rest.replace("\\", ""))
    return ", ".join(words[:-1]) + f" or {words[-1]}" if len(words) > 1 else (words[0] if words else "")


def describe_pattern(pattern: str) -> str:
    """A regular expression as a person reads it, for the common shapes
    (``^[first][rest]{0,99}$``, ``^[chars]+$``); else a plain "not in the expected format"."""
    found = _SIMPLE_PATTERN.match(pattern or "")
    if not found or "^" in (found.group(1) or "") + found.group(2):
        return "Not in the expected format."
    first, rest, _, low, high = found.groups()
    text = f"Use {_class_words(rest)} only"
    if first:
        text = f"Use {_class_words(first)} first, then {_class_words(rest)}"
    if high is not None:
        text += f"; at most {int(high) + (1 if first else 0)} characters"
    return text + "."


def _plural(count: Any, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


def _number(value: Any) -> str:
    return str(int(value)) if isinstance(value, float) and value.is_integer() else str(value)


def _one_of(values: list) -> str:
    shown = [label_of(v) for v in values[:10]]
    return "Choose one of: " + ", ".join(shown) + (", …" if len(values) > 10 else "") + "."


MESSAGES = {
    "minimum": lambda v: f"Must be at least {_number(v)}.",
    "maximum": lambda v: f"Must be at most {_number(v)}.",
    "exclusiveMinimum": lambda v: f"Must be more than {_number(v)}.",
    "exclusiveMaximum": lambda v: f"Must be less than {_number(v)}.",
    "multipleOf": lambda v: f"Must be a multiple of {_number(v)}.",
    "minLength": lambda v: f"At least {_plural(v, 'character')}.",
    "maxLength": lambda v: f"At most {_plural(v, 'character')}.",
    "pattern": describe_pattern,
    "enum": _one_of,
    "const": lambda v: f"Must be {label_of(v)}.",
    "type": lambda v: "Must be " + " or ".join(TYPE_WORDS.get(t, t) for t in ([v] if isinstance(v, str) else v)) + ".",
    "minItems": lambda v: f"Give at least {_plural(v, 'item')}.",
    "maxItems": lambda v: f"Give at most {_plural(v, 'item')}.",
    "uniqueItems": lambda v: "Items must not repeat.",
    "contains": lambda v: "Give at least one matching item.",
    "minContains": lambda v: f"Give at least {_plural(v, 'matching item')}.",
    "maxContains": lambda v: f"Give at most {_plural(v, 'matching item')}.",
    "minProperties": lambda v: f"Fill in at least {_plural(v, 'field')}.",
    "maxProperties": lambda v: f"Fill in at most {_plural(v, 'field')}.",
    "format": lambda v: FORMAT_WORDS.get(v, f"Not a valid {v}."),
    "not": lambda v: "This value is not allowed.",
    None: lambda v: "Not allowed here.",  # a `false` schema
}


def _join(base: str, name: Any) -> str:
    return f"{base}.{name}" if base else str(name)


def _describe(error, root: dict, value: Any) -> Iterator[tuple[str, str]]:
    """(dotted path, message) pairs for one jsonschema error."""
    path = ".".join(str(p) for p in error.absolute_path)
    keyword, expected, instance = error.validator, error.validator_value, error.instance
    if keyword is None and error.schema is False:
        yield from ((_join(path, name), "Not allowed here.") for name in _false_properties(error, root, value))
        return
    if keyword == "required":
        # One error per missing property; each names its own in the message only,
        # so map every missing one (duplicates are dropped by the caller).
        for name in expected:
            if isinstance(instance, dict) and name not in instance:
                yield _join(path, name), "Required."
    elif keyword == "dependentRequired":
        for given, needed in expected.items():
            if isinstance(instance, dict) and given in instance:
                for name in needed:
                    if name not in instance:
                        yield _join(path, name), "Required."
    elif keyword in {"additionalProperties", "unevaluatedProperties"}:
        known = set(error.schema.get("properties") or {})
        extra = sorted(k for k in instance if k not in known) if isinstance(instance, dict) else []
        yield path, "Unknown field: " + ", ".join(extra) + "." if extra else "Unknown fields."
    elif keyword in {"oneOf", "anyOf"}:
        if labels := choices(error.schema):
            yield path, _one_of([label for _, label in labels])
        elif error.context:
            yield from _describe(best_match(error.context), root, value)
        else:
            yield path, "Matches more than one of the options." if keyword == "oneOf" else "Not a valid value."
    elif keyword in MESSAGES:
        yield path, MESSAGES[keyword](expected)
    else:
        yield path, "Not a valid value."


def _false_properties(error, root: dict, value: Any) -> list[str]:
    """The properties a `false` schema refused: jsonschema leaves their name
    out of the error's path, so find them from the schema and value beside it."""
    *outer, keyword = list(error.absolute_schema_path) or [""]
    schema: Any = root
    for part in outer:
        schema = schema[part] if isinstance(schema, dict | list) else None
    for part in error.absolute_path:
        value = value[part] if isinstance(value, dict | list) else None
    if keyword != "properties" or not isinstance(schema, dict) or not isinstance(value, dict):
        return [""]
    return [name for name, sub in schema["properties"].items() if sub is False and name in value] or [""]


def _limits(value: Any, path: str = "") -> dict[str, list[str]]:
    """Limits that hold even where a schema sets none."""
    errors: dict[str, list[str]] = {}
    if isinstance(value, str) and len(value) > MAX_STRING:
        errors[path] = [f"At most {MAX_STRING} characters."]
    elif isinstance(value, list):
        if len(value) > MAX_ITEMS:
            errors[path] = [f"Give at most {MAX_ITEMS} items."]
        else:
            for index, item in enumerate(value):
                errors.update(_limits(item, _join(path, index)))
    elif isinstance(value, dict):
        if len(value) > MAX_ITEMS:
            errors[path] = [f"At most {MAX_ITEMS} fields."]
        else:
            for name, item in value.items():
                errors.update(_limits(item, _join(path, name)))
    return errors


def validate_parameters(schema: dict, value: object) -> dict[str, list[str]]:
    """Validate a JSON value (from the API or a parsed form) against the schema.

    Errors are keyed by dotted path ("hyperparameters.n_estimators",
    "tags.1"; "" for the whole value), each a list of human messages; {} when
    valid. Strings over 10,000 characters and lists over 1,000 items are
    refused first, whatever the schema says, so nothing huge reaches the
    validator."""
    if errors := _limits(value):
        return errors
    errors = {}
    validator = Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER)
    for error in validator.iter_errors(value):
        for path, message in _describe(error, schema, value):
            messages = errors.setdefault(path, [])
            if message not in messages:
                messages.append(message)
    return errors
