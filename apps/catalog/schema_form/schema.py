"""Reading a JSON Schema (draft 2020-12) the way the form needs it: the
properties of an object (conditional ones included, with the conditions under
which they apply), a property's type, choices and widget kind."""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from jsonschema import Draft202012Validator

MAX_STRING = 10_000
MAX_ITEMS = 1_000


def key(value: Any) -> str:
    """A JSON value as an HTML form value: strings as they are, the rest as JSON."""
    return value if isinstance(value, str) else json.dumps(value)


def label_of(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value)


def type_of(schema: dict) -> str | None:
    """The schema's type (the first non-null one of a list), or the one its
    keywords imply."""
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), None)
    if kind:
        return kind
    if "properties" in schema:
        return "object"
    if "items" in schema:
        return "array"
    values = choice_values(schema)
    if values:
        kinds = {type(v) for v in values}
        if kinds == {bool}:
            return "boolean"
        if kinds <= {int}:
            return "integer"
        if kinds <= {int, float}:
            return "number"
        if kinds == {str}:
            return "string"
    return None


def choice_values(schema: dict) -> list:
    if isinstance(schema.get("enum"), list):
        return schema["enum"]
    options = schema.get("oneOf") or schema.get("anyOf") or []
    if options and all(isinstance(o, dict) and "const" in o for o in options):
        return [o["const"] for o in options]
    return []


def choices(schema: dict) -> list[tuple[str, str]]:
    """(form value, label) pairs of an ``enum``, or of a ``oneOf``/``anyOf`` of
    ``const`` with ``title``."""
    if isinstance(schema.get("enum"), list):
        return [(key(v), label_of(v)) for v in schema["enum"]]
    options = schema.get("oneOf") or schema.get("anyOf") or []
    if options and all(isinstance(o, dict) and "const" in o for o in options):
        return [(key(o["const"]), str(o.get("title") or label_of(o["const"]))) for o in options]
    return []


def items_of(schema: dict) -> dict:
    items = schema.get("items")
    return items if isinstance(items, dict) else {}


def kind_of(schema: dict, hints: dict) -> str:
    """The widget: hidden, object, list (of objects), checkboxes (array of
    choices), lines (array of scalars), select, radio, checkbox, number,
    textarea or text."""
    widget = hints.get("widget")
    kind = type_of(schema)
    if widget == "hidden":
        return "hidden"
    if kind == "object":
        return "object"
    if kind == "array":
        items = items_of(schema)
        if type_of(items) == "object":
            return "list"
        return "checkboxes" if choices(items) else "lines"
    if choices(schema):
        return "radio" if widget == "radio" else "select"
    if kind == "boolean":
        return "checkbox"
    if kind in {"integer", "number"}:
        return "number"
    return "textarea" if widget == "textarea" else "text"


def hints_for(ui: dict, path: str) -> dict:
    """UI hints for a dotted path; items of arrays may be addressed with "*"
    ("variants.*.name") as well as by index."""
    hints = ui.get(path)
    if not isinstance(hints, dict):
        generic = ".".join("*" if part.isdigit() or part.startswith("__") else part for part in path.split("."))
        hints = ui.get(generic)
    return hints if isinstance(hints, dict) else {}


def order_for(ui: dict, path: str) -> list | None:
    if path:
        order = hints_for(ui, path).get("order")
    else:
        order = (ui.get("") or {}).get("order") if isinstance(ui.get(""), dict) else None
        order = order or ui.get("order")
    return order if isinstance(order, list) else None


# --- properties and the conditions under which they exist -----------------------------


@dataclass
class Entry:
    """A property of an object schema."""

    name: str
    schema: dict
    required: bool
    conditions: list[dict] | None = None  # None: always there; else any of these schemas must hold

    def active(self, value: dict) -> bool:
        return self.conditions is None or any(
            _validator(json.dumps(c, sort_keys=True)).is_valid(value) for c in self.conditions
        )


@lru_cache(maxsize=512)
def _validator(condition: str) -> Draft202012Validator:
    return Draft202012Validator(json.loads(condition))


def _branches(schema: dict) -> list[tuple[dict, dict]]:
    """(condition, branch schema) for each conditional part of ``schema``:
    if/then/else, dependentSchemas, and those nested in them or in allOf."""
    found: list[tuple[dict, dict]] = []

    def walk(part: dict, outer: list[dict]):
        def add(condition: dict, branch: object):
            if isinstance(branch, dict):
                conditions = [*outer, condition]
                found.append((conditions[0] if len(conditions) == 1 else {"allOf": conditions}, branch))
                walk(branch, conditions)

        if isinstance(part.get("if"), dict):
            add(part["if"], part.get("then"))
            add({"not": part["if"]}, part.get("else"))
        dependent = part.get("dependentSchemas")
        for name, branch in dependent.items() if isinstance(dependent, dict) else []:
            add({"required": [name]}, branch)
        for member in part.get("allOf") or []:
            if isinstance(member, dict):
                if outer:
                    found.append(({"allOf": outer} if len(outer) > 1 else outer[0], member))
                walk(member, outer)

    walk(schema, [])
    return found


def entries(schema: dict, ui: dict | None = None, path: str = "") -> list[Entry]:
    """The object's properties in display order: its own, then those of its
    conditional branches (one entry per name, with every condition that
    brings it). A property declared unconditionally stays unconditional."""
    required = set(schema.get("required") or [])
    result: dict[str, Entry] = {}
    for name, sub in (schema.get("properties") or {}).items():
        result[name] = Entry(name, sub if isinstance(sub, dict) else {}, name in required)
    for member in schema.get("allOf") or []:  # unconditional parts
        if isinstance(member, dict):
            for name, sub in (member.get("properties") or {}).items():
                result.setdefault(name, Entry(name, sub if isinstance(sub, dict) else {}, False))
            required |= set(member.get("required") or [])
    for name in required & set(result):
        result[name].required = True
    for condition, branch in _branches(schema):
        branch_required = set(branch.get("required") or [])
        for name, sub in (branch.get("properties") or {}).items():
            entry = result.get(name)
            if entry is None:
                entry = result[name] = Entry(name, sub if isinstance(sub, dict) else {}, False, [])
            if entry.conditions is not None:
                entry.conditions.append(condition)
                entry.required = entry.required or name in branch_required
    ordered = list(result.values())
    order = order_for(ui or {}, path)
    if order:
        ordered.sort(key=lambda e: order.index(e.name) if e.name in order else len(order))
    return ordered


def drop_inactive(schema: dict, value: dict) -> dict:
    """``value`` without the conditional properties whose conditions do not hold
    (repeatedly: dropping one may switch off another)."""
    conditional = [e for e in entries(schema) if e.conditions is not None]
    changed = True
    while changed:
        changed = False
        for entry in conditional:
            if entry.name in value and not entry.active(value):
                del value[entry.name]
                changed = True
    return value


# --- conditions for schema_form.js ----------------------------------------------------


def client_condition(condition: dict, input_name) -> dict | None:
    """A condition (a JSON Schema the parent object must match) in the small
    language schema_form.js understands, or None when it is more than a
    field's value in a set or present (then the field is always shown and
    the server decides). ``input_name(property)`` gives a sibling's input name."""
    parts: list[dict] = []
    for keyword, rule in condition.items():
        if keyword in {"title", "description", "$comment", "type"}:
            continue
        if keyword == "required" and isinstance(rule, list):
            named = condition.get("properties") if isinstance(condition.get("properties"), dict) else {}
            # a property with a value rule below says "present" already
            parts += [{"field": input_name(name), "present": True} for name in rule if name not in named]
        elif keyword == "properties" and isinstance(rule, dict):
            required = set(condition.get("required") or [])
            for name, sub in rule.items():
                simple = isinstance(sub, dict) and set(sub) <= {"const", "enum", "type", "title", "description"}
                values = ([sub["const"]] if "const" in sub else sub.get("enum") or []) if simple else []
                if not values:
                    return None
                clause = {"field": input_name(name), "in": [key(v) for v in values]}
                if name not in required:  # an absent property satisfies "properties"
                    clause = {"any": [{"not": {"field": input_name(name), "present": True}}, clause]}
                parts.append(clause)
        elif keyword == "not" and isinstance(rule, dict):
            inner = client_condition(rule, input_name)
            if inner is None:
                return None
            parts.append({"not": inner})
        elif keyword in {"allOf", "anyOf"} and isinstance(rule, list):
            inner = [client_condition(r, input_name) if isinstance(r, dict) else None for r in rule]
            if any(i is None for i in inner):
                return None
            parts.append({"all" if keyword == "allOf" else "any": inner})
        else:
            return None
    return parts[0] if len(parts) == 1 else {"all": parts}


def describe_condition(condition: dict) -> str:
    """Words for a condition, for the parameter table."""
    required = condition.get("required") or []
    properties = condition.get("properties") or {}
    if set(condition) <= {"required", "properties"} and len(properties) == 1:
        name, rule = next(iter(properties.items()))
        values = [rule["const"]] if isinstance(rule, dict) and "const" in rule else choice_values(rule or {})
        if values:
            return f"when {name} is {' or '.join(map(label_of, values))}"
    if set(condition) == {"required"} and len(required) == 1:
        return f"when {required[0]} is given"
    if set(condition) == {"not"} and isinstance(condition["not"], dict):
        inner = describe_condition(condition["not"])
        if inner.startswith("when ") and " is " in inner and not inner.endswith("is given"):
            return inner.replace(" is ", " is not ", 1)
        return f"unless {inner.removeprefix('when ')}" if inner != "conditional" else inner
    if set(condition) == {"allOf"}:
        return " and ".join(describe_condition(c) for c in condition["allOf"])
    return "conditional"
