"""The parameter table of a template's detail page."""

from __future__ import annotations

from typing import Any

from .errors import describe_pattern
from .schema import choices, describe_condition, entries, hints_for, items_of, type_of

LIMIT_KEYWORDS = {
    "minimum": "minimum",
    "maximum": "maximum",
    "exclusiveMinimum": "exclusive_minimum",
    "exclusiveMaximum": "exclusive_maximum",
    "multipleOf": "multiple_of",
    "minLength": "min_length",
    "maxLength": "max_length",
    "pattern": "pattern",
    "format": "format",
    "minItems": "min_items",
    "maxItems": "max_items",
    "uniqueItems": "unique_items",
}


def parameter_rows(schema: dict, ui: dict | None = None, path: str = "", when: str = "") -> list[dict]:
    """One row per parameter, nested ones included ("limits.cpu"; a list's
    item fields as "variants[].weight"), in form order.

    Each row: path, title, type ("integer", "list of string"...), required,
    default, enum (the allowed values or None), the limit keywords that apply
    (minimum, maximum, exclusive_minimum, exclusive_maximum, multiple_of,
    min_length, max_length, pattern, format, min_items, max_items,
    unique_items: None when absent), read_only, condition ("when algorithm
    is logistic_regression", "" when always there), constraints (all of that
    in words), and description (the schema's, or the UI's help, then the
    condition in brackets)."""
    ui = ui or {}
    rows = []
    for entry in entries(schema, ui, path.replace("[]", "")):
        sub_path = f"{path}.{entry.name}" if path else entry.name
        sub = entry.schema
        condition = " or ".join(describe_condition(c) for c in entry.conditions or [])
        condition = " and ".join(filter(None, [when, condition]))
        kind = type_of(sub) or "any"
        items = items_of(sub)
        if kind == "array":
            kind = f"list of {type_of(items) or 'any'}"
        allowed = choices(sub) or choices(items)
        help_text = hints_for(ui, sub_path.replace("[]", "")).get("help") or sub.get("description", "")
        row: dict[str, Any] = {
            "path": sub_path,
            "title": sub.get("title", ""),
            "type": kind,
            "required": entry.required,
            "default": sub.get("default"),
            "enum": [label for _, label in allowed] or None,
            "read_only": bool(sub.get("readOnly")),
            "condition": condition,
            "constraints": _constraints(sub, allowed),
            "description": " ".join(filter(None, [str(help_text), f"({condition})" if condition else ""])),
        }
        row.update({name: sub.get(keyword) for keyword, name in LIMIT_KEYWORDS.items()})
        rows.append(row)
        if type_of(sub) == "object":
            rows += parameter_rows(sub, ui, sub_path, condition)
        elif type_of(sub) == "array" and type_of(items) == "object":
            rows += parameter_rows(items, ui, f"{sub_path}[]", condition)
    return rows


def _constraints(schema: dict, allowed: list[tuple[str, str]]) -> str:
    parts = []
    if allowed:
        parts.append("one of " + ", ".join(label for _, label in allowed))
    low = schema.get("minimum", schema.get("exclusiveMinimum"))
    high = schema.get("maximum", schema.get("exclusiveMaximum"))
    if low is not None or high is not None:
        parts.append(
            f"{'>' if 'exclusiveMinimum' in schema else ''}{low if low is not None else '…'}"
            f" to {'<' if 'exclusiveMaximum' in schema else ''}{high if high is not None else '…'}"
        )
    if "multipleOf" in schema:
        parts.append(f"multiple of {schema['multipleOf']}")
    if "pattern" in schema:
        parts.append(describe_pattern(schema["pattern"]).rstrip("."))
    if "format" in schema:
        parts.append(schema["format"])
    if "minLength" in schema or "maxLength" in schema:
        parts.append(f"{schema.get('minLength', 0)} to {schema.get('maxLength', '…')} characters")
    if "minItems" in schema or "maxItems" in schema:
        parts.append(f"{schema.get('minItems', 0)} to {schema.get('maxItems', '…')} items")
    if schema.get("uniqueItems"):
        parts.append("no repeats")
    if schema.get("readOnly"):
        parts.append("read-only")
    return "; ".join(parts)
