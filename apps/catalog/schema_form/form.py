"""``SchemaForm``: a JSON Schema as HTML fields, a submitted form as a typed
JSON value, validated with errors beside the fields."""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from django.forms import Media, Script
from django.template.loader import render_to_string
from django.utils.datastructures import MultiValueDict

from apps.core.parsers import parse_json

from .errors import validate_parameters
from .schema import (
    MAX_ITEMS,
    MAX_STRING,
    choice_values,
    choices,
    client_condition,
    drop_inactive,
    entries,
    hints_for,
    items_of,
    key,
    kind_of,
    label_of,
    type_of,
)


class _Missing:
    """A property absent from the value: an empty optional input, so that
    defaults and ``required`` work as users expect."""

    def __repr__(self):
        return "<missing>"


MISSING: Any = _Missing()
TRUE_WORDS = {"true", "on", "1", "yes"}
FALSE_WORDS = {"false", "off", "0", "no"}

# How a field takes its value when rendered: from the value given, falling back
# to the schema's defaults (initial); from the value given only (bound: what
# was submitted); nothing at all (blank: the spare row of a list, so that an
# untouched one is no item); defaults only (template: the row "add item" copies).
INITIAL, BOUND, BLANK, TEMPLATE = "initial", "bound", "blank", "template"


def _join(path: str, name: Any) -> str:
    return f"{path}.{name}" if path else str(name)


@dataclass
class Field:
    path: str  # dotted: "hyperparameters.n_estimators", "variants.0.name"
    name: str  # the input's name: "<prefix>-<path>"
    schema: dict
    label: str
    kind: str  # text textarea number checkbox select radio checkboxes lines hidden object list
    required: bool = False
    help: str = ""
    value: Any = None
    errors: list[str] = field(default_factory=list)
    children: list[Field] = field(default_factory=list)  # an object's fields
    items: list[Field] = field(default_factory=list)  # a list's rows (object fields), the spare blank one last
    template_item: Field | None = None  # the row schema_form.js copies for "add item"
    placeholder_token: str = ""  # stands for the index in template_item's names
    next_index: int = 0
    item_number: int | None = None  # set on a list's rows
    spare: bool = False  # the blank row offered without JS
    is_item: bool = False  # one row of a list
    max_items: int = 0  # a list's
    choices: list[tuple[str, str]] = field(default_factory=list)
    attrs: dict[str, Any] = field(default_factory=dict)
    input_type: str = "text"
    show_when: str = ""  # JSON condition for schema_form.js; "" = always shown
    placeholder: str = ""
    read_only: bool = False

    @property
    def id(self) -> str:
        return "f-" + re.sub(r"[^A-Za-z0-9_-]", "-", self.name)

    @property
    def help_id(self) -> str:
        return f"{self.id}-help"

    @property
    def errors_id(self) -> str:
        return f"{self.id}-errors"

    @property
    def describedby(self) -> str:
        return " ".join([*([self.help_id] if self.help else []), *([self.errors_id] if self.errors else [])])

    @property
    def template(self) -> str:
        widget = {"radio": "choices", "checkboxes": "choices", "lines": "textarea", "number": "input", "text": "input"}
        return f"catalog/widgets/{widget.get(self.kind, self.kind)}.html"

    @property
    def text(self) -> str:
        """The value as the input shows it."""
        if self.value is None:
            return ""
        if self.kind == "lines" and isinstance(self.value, list):
            return "\n".join(label_of(v) for v in self.value)
        if self.kind == "hidden" and type_of(self.schema) != "string":
            return json.dumps(self.value)
        if isinstance(self.value, bool):
            return "true" if self.value else "false"
        return str(self.value)

    @property
    def selected(self) -> set[str]:
        if isinstance(self.value, list):
            return {key(v) for v in self.value}
        return {key(self.value)} if self.value is not None else set()

    def walk(self):
        yield self
        for child in [*self.children, *self.items]:
            yield from child.walk()


def _number_attrs(schema: dict, integer: bool) -> dict[str, Any]:
    attrs = {attr: schema[key_] for key_, attr in (("minimum", "min"), ("maximum", "max")) if key_ in schema}
    step = schema.get("multipleOf", 1 if integer else "any")
    try:  # the browser counts steps from min: only when min is itself a step
        if "minimum" in schema and step != "any" and Decimal(str(schema["minimum"])) % Decimal(str(step)) != 0:
            step = "any"
    except (InvalidOperation, ArithmeticError):
        step = "any"
    attrs["step"] = step
    return attrs


def _text_attrs(schema: dict, kind: str) -> dict[str, Any]:
    attrs: dict[str, Any] = {}
    if kind == "text" and isinstance(schema.get("pattern"), str):
        pattern = schema["pattern"]  # HTML anchors it; JSON Schema searches
        attrs["pattern"] = pattern if pattern.startswith("^") and pattern.endswith("$") else f".*(?:{pattern}).*"
    if "minLength" in schema:
        attrs["minlength"] = schema["minLength"]
    attrs["maxlength"] = min(schema.get("maxLength", MAX_STRING), MAX_STRING)
    return attrs


INPUT_TYPES = {"email": "email", "uri": "url", "date": "date"}


class SchemaForm:
    """A form for a JSON Schema (draft 2020-12) with UI hints.

    ``ui`` is keyed by dotted path ("" or the top-level key "order" for the
    root's order; "variants.*.name" for every row of a list): ``widget``
    (textarea, radio, select, hidden), ``placeholder``, ``help``, ``order``.
    Inputs are named ``<prefix>-<dotted.path>``. Include ``form.media`` (or
    static/js/schema_form.js) on the page for conditional fields and
    "add item"; the form works without it."""

    def __init__(
        self,
        schema: dict,
        *,
        ui: dict | None = None,
        data=None,
        initial: dict | None = None,
        prefix: str = "p",
    ):
        self.schema = schema
        self.ui = ui or {}
        if data is not None and not hasattr(data, "getlist"):
            data = MultiValueDict({k: v if isinstance(v, list) else [v] for k, v in data.items()})
        self.data = data
        self.initial = initial or {}
        self.prefix = prefix
        self.cleaned_data: dict = {}
        self.errors: dict[str, list[str]] = {}
        self._parsed: dict | None = None

    @property
    def is_bound(self) -> bool:
        return self.data is not None

    @property
    def media(self) -> Media:
        return Media(js=[Script("js/schema_form.js", defer=True)])

    # --- parsing ----------------------------------------------------------------------

    def is_valid(self) -> bool:
        """Parse the submitted data into a JSON value, drop the conditional fields
        whose conditions do not hold, and validate the rest."""
        if self.data is None:
            return False
        parse_errors: dict[str, list[str]] = {}
        value = self._parse_object(self.schema, "", parse_errors)
        self._parsed = value
        errors = validate_parameters(self.schema, value)
        errors.update(parse_errors)  # "Enter a number." says more than the schema's complaint about the raw text
        self.errors = errors
        self.cleaned_data = value if not errors else {}
        return not errors

    def _name(self, path: str) -> str:
        return f"{self.prefix}-{path}"

    def _initial_at(self, path: str, schema: dict) -> Any:
        value: Any = self.initial
        for part in path.split("."):
            if isinstance(value, dict) and part in value:
                value = value[part]
            elif isinstance(value, list) and part.isdigit() and int(part) < len(value):
                value = value[int(part)]
            else:
                return schema.get("default", MISSING)
        return value

    def _parse_object(self, schema: dict, path: str, errors: dict) -> dict:
        value: dict = {}
        for entry in entries(schema, self.ui, path):
            parsed = self._parse(entry.schema, _join(path, entry.name), errors)
            if parsed is MISSING or (parsed == {} and type_of(entry.schema) == "object" and not entry.required):
                continue  # an optional group left blank is no group
            value[entry.name] = parsed
        before = set(value)
        drop_inactive(schema, value)
        for name in before - set(value):  # what the user typed in a field that does not apply
            for path_ in [p for p in errors if p == _join(path, name) or p.startswith(_join(path, name) + ".")]:
                del errors[path_]
        return value

    def _parse(self, schema: dict, path: str, errors: dict) -> Any:
        if schema.get("readOnly"):
            return self._initial_at(path, schema)  # never from the submission
        kind = kind_of(schema, hints_for(self.ui, path))
        name = self._name(path)
        if kind == "object":
            return self._parse_object(schema, path, errors)
        if kind == "list":
            return self._parse_list(schema, path, errors)
        if kind == "checkboxes":
            typed = {key(v): v for v in choice_values(items_of(schema))}
            chosen = self.data.getlist(name)
            if not chosen and f"{name}.present" not in self.data:
                return MISSING
            return [typed.get(c, c) for c in chosen[: MAX_ITEMS + 1]]
        if kind == "checkbox":
            return (self.data.get(name) or "").lower() in TRUE_WORDS
        raw = self.data.get(name)
        if raw is None:
            return MISSING
        raw = raw.replace("\r\n", "\n").strip()
        if raw == "":
            return MISSING
        if kind == "lines":
            lines = [line.strip() for line in raw.split("\n") if line.strip()]
            item = items_of(schema)
            return [self._scalar(item, line, _join(path, i), errors) for i, line in enumerate(lines[: MAX_ITEMS + 1])]
        if kind in {"select", "radio"}:
            return {key(v): v for v in choice_values(schema)}.get(raw, raw)
        if kind == "hidden" and type_of(schema) not in {"string", None}:
            try:
                return parse_json(raw)
            except ValueError:
                errors[path] = ["Not a valid value."]
                return raw
        return self._scalar(schema, raw, path, errors)

    def _scalar(self, schema: dict, raw: str, path: str, errors: dict) -> Any:
        kind = type_of(schema)
        if kind in {"integer", "number"}:
            try:
                number = float(raw)
            except ValueError:
                number = math.nan
            if not math.isfinite(number) or (kind == "integer" and not number.is_integer()):
                errors[path] = ["Enter a whole number." if kind == "integer" else "Enter a number."]
                return raw
            if re.fullmatch(r"[+-]?\d+", raw):
                return int(raw)  # exact, even past a float's precision
            return int(number) if kind == "integer" else number
        if kind == "boolean":
            if raw.lower() in TRUE_WORDS | FALSE_WORDS:
                return raw.lower() in TRUE_WORDS
            errors[path] = ["Enter true or false."]
            return raw
        if choices(schema):
            return {key(v): v for v in choice_values(schema)}.get(raw, raw)
        return raw

    def _parse_list(self, schema: dict, path: str, errors: dict) -> Any:
        name = re.escape(self._name(path))
        rows = sorted({int(m.group(1)) for k in self.data if (m := re.match(rf"^{name}\.(\d+)\.", k))})
        items = []
        for index in rows:
            if len(items) > MAX_ITEMS:
                break
            row = f"{self.prefix}-{path}.{index}."
            submitted = [
                v for k in self.data if k.startswith(row) and not k.endswith(".present") for v in self.data.getlist(k)
            ]
            if not any(v.strip() for v in submitted):
                continue  # an untouched spare row (or one the user emptied) is no item
            row_errors: dict[str, list[str]] = {}
            items.append(self._parse_object(items_of(schema), f"{path}.{index}", row_errors))
            old, new = f"{path}.{index}", f"{path}.{len(items) - 1}"  # errors follow the item to its place in the list
            for key_, messages in row_errors.items():
                errors[new + key_[len(old) :]] = messages
        return items if items else MISSING

    # --- rendering ----------------------------------------------------------------------

    @property
    def fields(self) -> list[Field]:
        if self._parsed is not None:
            mode, value = BOUND, self._parsed
        else:
            mode, value = INITIAL, self.initial
        fields = self._object_fields(self.schema, "", value if isinstance(value, dict) else {}, mode, 0)
        self._form_errors = self._route_errors(fields)
        return fields

    def _route_errors(self, fields: list[Field]) -> list[str]:
        """Give each error to its field, or to the nearest enclosing one (with
        the rest of the path in front), or to the form."""
        by_path = {f.path: f for top in fields for f in top.walk() if f.kind != "hidden"}
        form_errors = []
        for path, messages in self.errors.items():
            target, rest = path, []
            while target and target not in by_path:
                target, _, last = target.rpartition(".")
                rest.insert(0, f"item {int(last) + 1}" if last.isdigit() else last)
            where = " ".join(rest).capitalize()
            shown = [f"{where}: {m}" if rest else m for m in messages]
            if target:
                by_path[target].errors = [*by_path[target].errors, *shown]
            else:
                form_errors += shown
        return form_errors

    def _object_fields(self, schema: dict, path: str, value: dict, mode: str, depth: int) -> list[Field]:
        fields = []
        for entry in entries(schema, self.ui, path):
            show_when = ""
            if entry.conditions is not None:
                conditions = [client_condition(c, lambda n: self._name(_join(path, n))) for c in entry.conditions]
                if all(c is not None for c in conditions):
                    show_when = json.dumps(conditions[0] if len(conditions) == 1 else {"any": conditions})
            fields.append(
                self._field(
                    entry.schema,
                    _join(path, entry.name),
                    value.get(entry.name, MISSING),
                    mode=mode,
                    depth=depth,
                    required=entry.required,
                    show_when=show_when,
                )
            )
        return fields

    def _field(
        self, schema: dict, path: str, value: Any, *, mode: str, depth: int, required: bool = False, show_when=""
    ) -> Field:
        hints = hints_for(self.ui, path)
        kind = kind_of(schema, hints)
        if value is MISSING:
            value = schema.get("default") if mode in {INITIAL, TEMPLATE} else None
        item = Field(
            path=path,
            name=self._name(path),
            schema=schema,
            label=str(schema.get("title") or path.rsplit(".", 1)[-1].replace("_", " ").capitalize()),
            kind=kind,
            required=required,
            help=str(hints.get("help") or schema.get("description") or ""),
            value=None if mode == BLANK else value,
            show_when=show_when,
            placeholder=str(hints.get("placeholder") or ""),
            read_only=bool(schema.get("readOnly")),
        )
        if kind in {"select", "radio"}:
            item.choices = choices(schema)
        elif kind == "checkboxes":
            item.choices = choices(items_of(schema))
        elif kind == "number":
            item.input_type = "number"
            item.attrs = _number_attrs(schema, type_of(schema) == "integer")
        elif kind in {"text", "textarea"}:
            item.input_type = INPUT_TYPES.get(schema.get("format"), "text")
            item.attrs = _text_attrs(schema, kind)
            # "one of these, or any value of that shape" (anyOf an enum and a pattern): the named
            # values offered as suggestions of a free input (a datalist), not a closed select
            item.choices = [
                (key(value), label_of(value))
                for option in schema.get("anyOf") or []
                if isinstance(option, dict) and isinstance(option.get("enum"), list)
                for value in option["enum"]
            ]
        elif kind == "lines":
            bounds = [f"at least {schema['minItems']}" if "minItems" in schema else ""]
            bounds.append(f"at most {schema['maxItems']}" if "maxItems" in schema else "")
            bounds_text = " and ".join(filter(None, bounds))
            item.help = item.help or "One per line" + (f", {bounds_text}." if bounds_text else ".")
        elif kind == "object":
            item.children = self._object_fields(schema, path, value if isinstance(value, dict) else {}, mode, depth)
        elif kind == "list":
            self._list_rows(item, value if isinstance(value, list) else [], mode, depth)
        return item

    def _list_rows(self, item: Field, rows: list, mode: str, depth: int) -> None:
        schema = items_of(item.schema)
        item.items = [
            self._row(schema, f"{item.path}.{i}", row, number=i + 1, mode=mode, depth=depth + 1)
            for i, row in enumerate(rows)
        ]
        if len(rows) < item.schema.get("maxItems", MAX_ITEMS):  # without JS: one spare row to fill in
            item.items.append(
                self._row(schema, f"{item.path}.{len(rows)}", {}, number=len(rows) + 1, mode=BLANK, depth=depth + 1)
            )
            item.items[-1].spare = True
        item.next_index = len(rows) + 1
        item.max_items = min(item.schema.get("maxItems", MAX_ITEMS), MAX_ITEMS)
        item.placeholder_token = f"__N{depth}__"
        item.template_item = self._row(
            schema, f"{item.path}.{item.placeholder_token}", MISSING, number=None, mode=TEMPLATE, depth=depth + 1
        )

    def _row(self, schema: dict, path: str, value: Any, *, number: int | None, mode: str, depth: int) -> Field:
        row = self._field(schema, path, value, mode=mode, depth=depth)
        row.label, row.item_number, row.is_item = "Item", number, True
        return row

    def render(self) -> str:
        """The fields as HTML (a SafeString), with values and errors beside them."""
        if self.is_bound and self._parsed is None:
            self.is_valid()
        fields = self.fields
        return render_to_string("catalog/_schema_form.html", {"fields": fields, "form_errors": self._form_errors})

    def __str__(self):
        return self.render()

    __html__ = render
