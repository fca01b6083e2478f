"""What a template file must say, and the check that refuses anything else.

A template is YAML (see catalog/*.yaml). Its ``parameters`` is a JSON Schema
(draft 2020-12) for the launch form; its ``steps`` are backend operations whose
``input`` may refer to parameters and to earlier steps' outputs. Every problem
is reported with the JSON pointer of the place it concerns.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError

from apps.backends.registry import available_kinds
from apps.runs.expressions import ROOTS, references
from apps.runs.models import PLAN_KINDS, RunKind, RunStep

from .models import TemplateKind, Visibility

# Every operation the run engine can do in one step, and the approval gate.
ACTIONS = sorted([kind for kind in RunKind.values if kind not in PLAN_KINDS] + [RunStep.APPROVAL])
API_VERSION = "atrium/v1"
SLUG = r"^[a-z0-9][a-z0-9-]{0,79}$"
STEP_ID = r"^[a-z][a-z0-9_-]{0,49}$"

TEMPLATE_SCHEMA = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "additionalProperties": False,
    "required": ["apiVersion", "slug", "name", "owner", "kind", "backends", "parameters", "steps"],
    "properties": {
        "apiVersion": {"const": API_VERSION},
        "slug": {"type": "string", "pattern": SLUG},
        "name": {"type": "string", "minLength": 1, "maxLength": 200},
        "summary": {"type": "string", "maxLength": 300},
        "description": {"type": "string", "maxLength": 20000},
        "owner": {"type": "string", "pattern": r"^[a-z0-9][a-z0-9-]*$"},
        "visibility": {"enum": list(Visibility.values)},
        "kind": {"enum": list(TemplateKind.values)},
        "tags": {"type": "array", "items": {"type": "string", "pattern": r"^[a-z0-9][a-z0-9-]{0,49}$"}, "maxItems": 20},
        "backends": {"type": "array", "items": {"enum": available_kinds()}, "minItems": 1, "uniqueItems": True},
        "parameters": {"type": "object", "required": ["type"], "properties": {"type": {"const": "object"}}},
        "ui": {"type": "object"},
        "steps": {
            "type": "array",
            "minItems": 1,
            "maxItems": 20,
            "items": {
                "type": "object",
                "additionalProperties": False,
                "required": ["id", "action"],
                "properties": {
                    "id": {"type": "string", "pattern": STEP_ID},
                    "name": {"type": "string", "maxLength": 200},
                    "action": {"enum": ACTIONS},
                    "input": {"type": "object"},
                },
            },
        },
    },
}
_TEMPLATE_VALIDATOR = Draft202012Validator(TEMPLATE_SCHEMA)


@dataclass(frozen=True)
class SpecError:
    pointer: str  # JSON pointer into the template, "" for the whole file
    message: str

    def __str__(self):
        return f"{self.pointer or '/'}: {self.message}"


def pointer_of(path) -> str:
    return "".join(f"/{part}" for part in path)


def spec_check(spec: object) -> list[SpecError]:
    """Every problem with ``spec``; empty when it can be loaded."""
    if not isinstance(spec, dict):
        return [SpecError("", "A template must be a mapping (YAML keys and values).")]
    errors = [SpecError(pointer_of(e.absolute_path), e.message) for e in _TEMPLATE_VALIDATOR.iter_errors(spec)]
    if errors:
        return sorted(errors, key=lambda e: e.pointer)
    return _parameters_errors(spec["parameters"]) + _step_errors(spec)


def _parameters_errors(parameters: dict) -> list[SpecError]:
    try:
        Draft202012Validator.check_schema(parameters)
    except SchemaError as error:
        return [SpecError("/parameters" + pointer_of(error.absolute_path), error.message)]
    return []


def _step_errors(spec: dict) -> list[SpecError]:
    errors: list[SpecError] = []
    known_parameters = declared_properties(spec["parameters"])
    earlier: set[str] = set()
    for index, step in enumerate(spec["steps"]):
        at = f"/steps/{index}"
        if step["id"] in earlier:
            errors.append(SpecError(f"{at}/id", f"Step id {step['id']!r} is used twice."))
        for pointer, path in references(step.get("input", {}), f"{at}/input"):
            if problem := _reference_problem(path, known_parameters, earlier):
                errors.append(SpecError(pointer, problem))
        earlier.add(step["id"])
    return errors


def declared_properties(schema: dict) -> set[str]:
    """Top-level parameter names, conditional ones (if/then/else, allOf...,
    dependentSchemas) included."""
    names = set(schema.get("properties", {}))
    for keyword in ("then", "else"):
        if isinstance(schema.get(keyword), dict):
            names |= declared_properties(schema[keyword])
    for keyword in ("allOf", "anyOf", "oneOf"):
        for branch in schema.get(keyword, []):
            if isinstance(branch, dict):
                names |= declared_properties(branch)
    for branch in schema.get("dependentSchemas", {}).values():
        if isinstance(branch, dict):
            names |= declared_properties(branch)
    return names


def _reference_problem(path: str, parameters: set[str], earlier_steps: set[str]) -> str:
    root, *rest = path.split(".")
    if root not in ROOTS:
        return f"Unknown reference ${{{{ {path} }}}}: it must start with {', '.join(ROOTS)}."
    if root == "parameters" and (not rest or rest[0] not in parameters):
        return f"${{{{ {path} }}}} names no parameter of this template."
    if root == "steps":
        if len(rest) < 3 or rest[1] != "outputs":
            return f"${{{{ {path} }}}} must read steps.<id>.outputs.<name>."
        if rest[0] not in earlier_steps:
            return f"${{{{ {path} }}}} refers to {rest[0]!r}, which is not an earlier step."
    if root == "run" and rest not in (["id"], ["name"], ["team"]):
        return f"${{{{ {path} }}}}: a run offers run.id, run.name and run.team."
    return ""


def spec_checksum(spec: dict) -> str:
    canonical = json.dumps(spec, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


def with_defaults(schema: dict, value: object) -> object:
    """``value`` with the schema's defaults filled in where a property is
    missing, as a user of the form would get them: conditional branches
    (if/then/else, dependentSchemas, allOf) only when they apply."""
    if not isinstance(value, dict) or not isinstance(schema, dict):
        return value
    value = dict(value)
    for name, subschema in schema.get("properties", {}).items():
        if name not in value and isinstance(subschema, dict) and "default" in subschema:
            value[name] = subschema["default"]
        elif name in value:
            value[name] = with_defaults(subschema, value[name])
    if isinstance(schema.get("if"), dict):
        branch = "then" if Draft202012Validator(schema["if"]).is_valid(value) else "else"
        value = with_defaults(schema.get(branch, {}), value)
    for name, subschema in schema.get("dependentSchemas", {}).items():
        if name in value:
            value = with_defaults(subschema, value)
    for subschema in schema.get("allOf", []):
        value = with_defaults(subschema, value)
    return value
