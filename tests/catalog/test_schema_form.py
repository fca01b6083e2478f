"""Forms generated from JSON Schema (apps/catalog/schema_form): every feature
renders (checked on the parsed HTML), parses back to typed JSON and validates
with a human message beside the right field. No database needed."""

import json
from html.parser import HTMLParser

import pytest
from django.http import QueryDict

from apps.catalog.schema_form import SchemaForm, parameter_rows, validate_parameters
from tests.e2e.test_browser import browser  # noqa: F401 - a fixture

VOID = {"input", "br", "img", "hr", "meta", "link"}

RICH = {
    "type": "object",
    "required": ["name", "size"],
    "properties": {
        "name": {"type": "string", "title": "Name", "pattern": "^[a-z]+$", "minLength": 2, "maxLength": 10},
        "email": {"type": "string", "format": "email", "description": "Where to write."},
        "size": {"type": "integer", "minimum": 1, "maximum": 10, "default": 3},
        "ratio": {"type": "number", "exclusiveMinimum": 0, "exclusiveMaximum": 1, "multipleOf": 0.05},
        "flavour": {"type": "string", "enum": ["vanilla", "chocolate"], "default": "vanilla"},
        "model": {
            "type": "string",
            "oneOf": [{"const": "rf", "title": "Random forest"}, {"const": "lr", "title": "Logistic"}],
        },
        "early_stop": {"type": "boolean", "default": True},
        "verbose": {"type": "boolean"},
        "labels": {"type": "array", "items": {"type": "string"}, "minItems": 1, "maxItems": 3, "uniqueItems": True},
        "seeds": {"type": "array", "items": {"type": "integer"}},
        "regions": {"type": "array", "items": {"enum": ["eu", "us", "ap"]}, "uniqueItems": True},
        "limits": {
            "type": "object",
            "title": "Limits",
            "properties": {
                "cpu": {"type": "integer", "minimum": 1},
                "nested": {"type": "object", "properties": {"deep": {"type": "string"}}},
            },
        },
        "variants": {
            "type": "array",
            "maxItems": 4,
            "items": {
                "type": "object",
                "required": ["weight"],
                "properties": {
                    "name": {"type": "string"},
                    "weight": {"type": "integer", "maximum": 100, "default": 50},
                    "shadow": {"type": "boolean"},
                },
            },
        },
        "rollout": {"type": "string", "enum": ["all", "canary"]},
        "note": {"type": "string", "readOnly": True, "default": "fixed"},
        "notes": {"type": "string"},
        "owner": {"type": "string"},
    },
    "if": {"properties": {"flavour": {"const": "chocolate"}}, "required": ["flavour"]},
    "then": {"properties": {"cocoa": {"type": "integer", "minimum": 50}}, "required": ["cocoa"]},
    "else": {"properties": {"vanilla_pods": {"type": "integer", "minimum": 1}}},
    "dependentSchemas": {
        "rollout": {"properties": {"canary_percent": {"type": "integer", "minimum": 1, "maximum": 50}}}
    },
    "dependentRequired": {"owner": ["email"]},
}
UI = {
    "name": {"placeholder": "lowercase", "help": "Letters only."},
    "rollout": {"widget": "radio"},
    "notes": {"widget": "textarea"},
    "owner": {"widget": "hidden"},
}


class Page(HTMLParser):
    """The rendered form as a browser sees it: controls by name (those inside
    <template> kept apart), label texts by their `for`, texts by id, and the
    elements that carry a show-when condition."""

    def __init__(self, html):
        super().__init__(convert_charrefs=True)
        self.controls: dict[str, list[dict]] = {}
        self.templated: dict[str, list[dict]] = {}
        self.labels: dict[str, str] = {}
        self.texts: dict[str, str] = {}
        self.ids: set[str] = set()
        self.conditional: dict[str, dict] = {}  # data-path -> condition
        self.legends: list[str] = []
        self._open: list[tuple[str, dict]] = []
        self._template_depth = 0
        self._control = None
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        attrs = {k: ("" if v is None else v) for k, v in attrs}
        if "id" in attrs:
            assert attrs["id"] not in self.ids or self._template_depth, f"duplicate id {attrs['id']}"
            self.ids.add(attrs["id"])
        if "data-show-when" in attrs and not self._template_depth:
            self.conditional[attrs.get("data-path", "")] = json.loads(attrs["data-show-when"])
        if tag == "template":
            self._template_depth += 1
        if tag in {"input", "textarea", "select"}:
            control = {"tag": tag, "text": "", "options": [], **attrs}
            target = self.templated if self._template_depth else self.controls
            target.setdefault(attrs.get("name"), []).append(control)
            self._control = control if tag != "input" else None
            if tag == "input" and self._open and self._open[-1][0] == "label":
                self._open[-1][1]["wraps"] = attrs.get("id")
        if tag == "option" and self._control is not None:
            self._control["options"].append(attrs)
        if tag not in VOID:
            self._open.append((tag, {**attrs, "text": ""}))

    def handle_data(self, data):
        for _, attrs in self._open:
            attrs["text"] += data
        if self._control is not None and self._control["tag"] == "textarea":
            self._control["text"] += data
        if self._control is not None and self._control["tag"] == "select" and self._control["options"]:
            option = self._control["options"][-1]
            option["label"] = option.get("label", "") + data

    def handle_endtag(self, tag):
        if tag in VOID:
            return
        while self._open:
            open_tag, attrs = self._open.pop()
            text = " ".join(attrs["text"].split())
            if open_tag == "label" and "for" in attrs:
                self.labels[attrs["for"]] = text
            if open_tag == "legend":
                self.legends.append(text)
            if "id" in attrs:
                self.texts[attrs["id"]] = text
            if open_tag == tag:
                break
        if tag == "template":
            self._template_depth -= 1
        if tag in {"textarea", "select"}:
            self._control = None

    def one(self, name) -> dict:
        assert len(self.controls.get(name, [])) == 1, (name, self.controls.get(name))
        return self.controls[name][0]

    def submission(self, js_hidden: frozenset = frozenset()) -> QueryDict:
        """What the browser sends: enabled controls outside <template>; checked
        boxes; the selected (or first) option; textarea text."""
        data = QueryDict(mutable=True)
        for name, controls in self.controls.items():
            for control in controls:
                if "disabled" in control or name is None:
                    continue
                if control["tag"] == "select":
                    options = [o for o in control["options"] if "selected" in o] or control["options"][:1]
                    for option in options:
                        data.appendlist(name, option["value"])
                elif control.get("type") in {"checkbox", "radio"}:
                    if "checked" in control:
                        data.appendlist(name, control.get("value", "on"))
                elif control["tag"] == "textarea":
                    data.appendlist(name, control["text"].removeprefix("\n"))
                else:
                    data.appendlist(name, control.get("value", ""))
        return data


def post(*pairs, **fields) -> QueryDict:
    data = QueryDict(mutable=True)
    for key, value in [*pairs, *fields.items()]:
        data.appendlist(key, value)
    return data


def valid(**fields) -> QueryDict:
    """The least RICH accepts, plus ``fields`` (p- prefixed by the caller)."""
    return post(**{"p-name": "abc", "p-size": "2", **fields})


# --- rendering ------------------------------------------------------------------------


def test_strings_render_with_their_constraints_label_and_help():
    page = Page(SchemaForm(RICH, ui=UI).render())
    name = page.one("p-name")
    assert (name["type"], name["pattern"], name["minlength"], name["maxlength"]) == ("text", "^[a-z]+$", "2", "10")
    assert name["placeholder"] == "lowercase" and name["aria-required"] == "true"
    assert page.labels[name["id"]] == "Name *"  # the title, and the required mark
    assert page.texts[name["aria-describedby"]] == "Letters only."  # ui help wins over description
    email = page.one("p-email")
    assert email["type"] == "email" and email["maxlength"] == "10000"  # the limit even where the schema sets none
    assert page.labels[email["id"]] == "Email" and page.texts[email["aria-describedby"]] == "Where to write."
    assert "aria-required" not in email
    assert page.one("p-notes")["tag"] == "textarea"


def test_an_unanchored_pattern_is_searched_as_json_schema_says():
    schema = {"type": "object", "properties": {"x": {"type": "string", "pattern": "[0-9]"}}}
    assert Page(SchemaForm(schema).render()).one("p-x")["pattern"] == ".*(?:[0-9]).*"
    assert SchemaForm(schema, data=post(**{"p-x": "a1b"})).is_valid()


def test_enum_and_const_options_render_as_a_select_or_radios():
    page = Page(SchemaForm(RICH, ui=UI).render())
    flavour = page.one("p-flavour")
    assert [o["value"] for o in flavour["options"]] == ["", "vanilla", "chocolate"]  # optional: a blank choice
    assert [o["value"] for o in flavour["options"] if "selected" in o] == ["vanilla"]  # the default
    model = page.one("p-model")
    assert [(o["value"], o.get("label", "").strip()) for o in model["options"]][1:] == [
        ("rf", "Random forest"),
        ("lr", "Logistic"),
    ]
    rollout = page.controls["p-rollout"]
    assert [(c["type"], c["value"]) for c in rollout] == [("radio", "all"), ("radio", "canary"), ("radio", "")]
    assert [page.labels[c["id"]] for c in rollout] == ["all", "canary", "None"]


def test_a_required_select_with_a_value_offers_no_blank():
    schema = {"type": "object", "required": ["a"], "properties": {"a": {"enum": [1, 2], "default": 2}}}
    page = Page(SchemaForm(schema).render())
    assert [o["value"] for o in page.one("p-a")["options"]] == ["1", "2"]
    form = SchemaForm(schema, data=post(**{"p-a": "1"}))
    assert form.is_valid() and form.cleaned_data == {"a": 1}  # typed as the enum's value


def test_numbers_render_with_bounds_and_step():
    page = Page(SchemaForm(RICH).render())
    size = page.one("p-size")
    assert (size["type"], size["min"], size["max"], size["step"], size["value"]) == ("number", "1", "10", "1", "3")
    ratio = page.one("p-ratio")
    assert ratio["step"] == "0.05" and "min" not in ratio and "max" not in ratio  # exclusive bounds: the server checks
    schema = {"type": "object", "properties": {"n": {"type": "number", "minimum": 0.01, "multipleOf": 0.05}}}
    assert Page(SchemaForm(schema).render()).one("p-n")["step"] == "any"  # the browser would count from 0.01


def test_booleans_are_checkboxes_and_unchecked_is_false():
    page = Page(SchemaForm(RICH).render())
    assert page.one("p-early_stop")["type"] == "checkbox" and "checked" in page.one("p-early_stop")
    assert "checked" not in page.one("p-verbose")
    form = SchemaForm(RICH, data=valid(**{"p-verbose": "true"}))
    assert form.is_valid(), form.errors
    assert form.cleaned_data["early_stop"] is False and form.cleaned_data["verbose"] is True


def test_arrays_of_scalars_are_one_per_line():
    page = Page(SchemaForm(RICH, initial={"labels": ["a", "b"], "seeds": [1, 2]}).render())
    labels = page.one("p-labels")
    assert labels["tag"] == "textarea" and labels["text"] == "\na\nb"
    assert page.texts[labels["aria-describedby"]] == "One per line, at least 1 and at most 3."
    form = SchemaForm(RICH, data=valid(**{"p-labels": "x\r\n\r\ny \n", "p-seeds": "3\n4"}))
    assert form.is_valid(), form.errors
    assert form.cleaned_data["labels"] == ["x", "y"] and form.cleaned_data["seeds"] == [3, 4]


def test_a_bad_line_is_reported_on_the_list_with_its_line():
    form = SchemaForm(RICH, data=valid(**{"p-seeds": "3\nfour"}))
    assert not form.is_valid()
    assert form.errors == {"seeds.1": ["Enter a whole number."]}
    page = Page(form.render())
    seeds = page.one("p-seeds")
    assert seeds["aria-invalid"] == "true" and page.texts["f-p-seeds-errors"] == "Item 2: Enter a whole number."
    assert seeds["text"] == "\n3\nfour"  # what was typed stays


def test_arrays_of_choices_are_checkboxes():
    page = Page(SchemaForm(RICH, initial={"regions": ["ap"]}).render())
    regions = page.controls["p-regions"]
    assert [(c["type"], c["value"], "checked" in c) for c in regions] == [
        ("checkbox", "eu", False),
        ("checkbox", "us", False),
        ("checkbox", "ap", True),
    ]
    assert all(page.labels[c["id"]] for c in regions)
    form = SchemaForm(RICH, data=valid(**{"p-regions.present": "1"}))  # all unticked: an empty list, not missing
    assert form.is_valid() and form.cleaned_data["regions"] == []
    form = SchemaForm(RICH, data=post(("p-name", "abc"), ("p-size", "2"), ("p-regions", "eu"), ("p-regions", "us")))
    assert form.is_valid() and form.cleaned_data["regions"] == ["eu", "us"]


def test_arrays_of_objects_render_items_a_spare_row_and_a_template():
    value = {"variants": [{"name": "a", "weight": 60}, {"name": "b", "weight": 40, "shadow": True}]}
    page = Page(SchemaForm(RICH, initial=value).render())
    assert page.one("p-variants.0.name")["value"] == "a" and page.one("p-variants.1.weight")["value"] == "40"
    assert "checked" in page.one("p-variants.1.shadow")
    spare = page.one("p-variants.2.weight")
    assert spare["value"] == ""  # the spare row is blank, defaults and all, so an untouched one is no item
    assert set(page.templated) >= {"p-variants.__N0__.name", "p-variants.__N0__.weight"}
    assert page.templated["p-variants.__N0__.weight"][0]["value"] == "50"  # "add item" rows get the defaults
    assert "Item 1" in page.legends and "Item 3" in page.legends  # the spare one is numbered too
    full = {"variants": [{"weight": 1}] * 4}  # maxItems reached: no spare row
    assert "p-variants.4.weight" not in Page(SchemaForm(RICH, initial=full).render()).controls


def test_list_rows_parse_skip_blanks_and_keep_error_positions():
    data = valid(
        **{
            "p-variants.0.name": "",  # the untouched spare row
            "p-variants.0.weight": "",
            "p-variants.3.name": "b",  # JS-added rows, one removed in between
            "p-variants.3.weight": "30",
            "p-variants.7.name": "c",
            "p-variants.7.weight": "many",
        }
    )
    form = SchemaForm(RICH, data=data)
    assert not form.is_valid()
    assert form.errors == {"variants.1.weight": ["Enter a whole number."]}  # where the row now is
    page = Page(form.render())
    assert page.one("p-variants.1.weight")["aria-invalid"] == "true" and page.one("p-variants.1.name")["value"] == "c"
    form = SchemaForm(RICH, data=valid(**{"p-variants.5.weight": "101", "p-variants.9.name": "x"}))
    assert not form.is_valid()
    assert form.errors == {"variants.0.weight": ["Must be at most 100."], "variants.1.weight": ["Required."]}


def test_nested_objects_are_fieldsets_at_any_depth():
    page = Page(SchemaForm(RICH).render())
    assert {"p-limits.cpu", "p-limits.nested.deep"} <= set(page.controls)
    assert "Limits" in page.legends and "Nested" in page.legends
    assert page.labels[page.one("p-limits.nested.deep")["id"]] == "Deep"
    form = SchemaForm(RICH, data=valid(**{"p-limits.nested.deep": "down", "p-limits.cpu": ""}))
    assert form.is_valid() and form.cleaned_data["limits"] == {"nested": {"deep": "down"}}
    form = SchemaForm(RICH, data=valid(**{"p-limits.cpu": ""}))
    assert form.is_valid() and "limits" not in form.cleaned_data  # an optional group left blank


def test_read_only_fields_show_and_keep_their_value_whatever_is_submitted():
    page = Page(SchemaForm(RICH).render())
    note = page.one("p-note")
    assert "readonly" in note and note["value"] == "fixed"
    form = SchemaForm(RICH, data=valid(**{"p-note": "tampered"}))
    assert form.is_valid() and form.cleaned_data["note"] == "fixed"
    form = SchemaForm(RICH, initial={"note": "from the run"}, data=valid(**{"p-note": "tampered"}))
    assert form.is_valid() and form.cleaned_data["note"] == "from the run"
    schema = {"type": "object", "properties": {"on": {"type": "boolean", "readOnly": True, "default": True}}}
    page = Page(SchemaForm(schema).render())
    assert "disabled" in page.one("p-on")  # not submitted...
    form = SchemaForm(schema, data=post())
    assert form.is_valid() and form.cleaned_data == {"on": True}  # ...and still true


def test_ui_order_widgets_and_prefix():
    schema = {
        "type": "object",
        "properties": {
            "a": {"type": "string"},
            "b": {"type": "string"},
            "c": {"type": "object", "properties": {"x": {"type": "integer"}, "y": {"type": "integer"}}},
            "d": {"type": "integer", "enum": [1, 2]},
            "e": {"type": "integer"},
        },
    }
    ui = {"order": ["c", "b"], "c": {"order": ["y"]}, "d": {"widget": "radio"}, "e": {"widget": "hidden"}}
    page = Page(SchemaForm(schema, ui=ui, prefix="q", initial={"e": 5}).render())
    assert [n for n in page.controls if n] == ["q-c.y", "q-c.x", "q-b", "q-a", "q-d", "q-e"]
    assert page.one("q-e")["type"] == "hidden" and page.one("q-e")["value"] == "5"
    assert {c["type"] for c in page.controls["q-d"]} == {"radio"}
    form = SchemaForm(schema, ui=ui, prefix="q", data=post(**{"q-e": "7", "q-d": "2", "p-a": "other prefix"}))
    assert form.is_valid() and form.cleaned_data == {"e": 7, "d": 2}


# --- conditional fields ----------------------------------------------------------------


def test_if_then_else_fields_carry_their_condition_for_the_script():
    page = Page(SchemaForm(RICH).render())
    assert page.conditional["cocoa"] == {"field": "p-flavour", "in": ["chocolate"]}
    assert page.conditional["vanilla_pods"]["not"] == page.conditional["cocoa"]
    assert page.conditional["canary_percent"] == {"field": "p-rollout", "present": True}
    assert "name" not in page.conditional
    assert {"p-cocoa", "p-vanilla_pods", "p-canary_percent"} <= set(page.controls)  # all there without JS


def test_inactive_conditional_fields_are_dropped_and_not_validated():
    # vanilla: "then" (cocoa) does not apply, whatever was typed there with JS off.
    form = SchemaForm(RICH, data=valid(**{"p-flavour": "vanilla", "p-cocoa": "bad", "p-vanilla_pods": "3"}))
    assert form.is_valid(), form.errors
    assert "cocoa" not in form.cleaned_data and form.cleaned_data["vanilla_pods"] == 3
    form = SchemaForm(RICH, data=valid(**{"p-flavour": "chocolate", "p-cocoa": "70", "p-vanilla_pods": "0"}))
    assert form.is_valid(), form.errors
    assert form.cleaned_data["cocoa"] == 70 and "vanilla_pods" not in form.cleaned_data
    form = SchemaForm(RICH, data=valid(**{"p-flavour": "chocolate"}))
    assert not form.is_valid() and form.errors == {"cocoa": ["Required."]}
    # No rollout: the dependent canary_percent is dropped; with one, it counts.
    form = SchemaForm(RICH, data=valid(**{"p-canary_percent": "500"}))
    assert form.is_valid() and "canary_percent" not in form.cleaned_data
    form = SchemaForm(RICH, data=valid(**{"p-rollout": "canary", "p-canary_percent": "80"}))
    assert not form.is_valid() and form.errors == {"canary_percent": ["Must be at most 50."]}


def test_nested_and_shared_conditional_fields():
    schema = {
        "type": "object",
        "properties": {"mode": {"enum": ["a", "b", "c"]}},
        "allOf": [
            {
                "if": {"properties": {"mode": {"enum": ["a", "b"]}}, "required": ["mode"]},
                "then": {
                    "properties": {"level": {"type": "integer"}, "sub": {"type": "boolean"}},
                    "if": {"properties": {"sub": {"const": True}}, "required": ["sub"]},
                    "then": {"properties": {"depth": {"type": "integer", "minimum": 2}}},
                },
            },
            {
                "if": {"properties": {"mode": {"const": "c"}}, "required": ["mode"]},
                "then": {"properties": {"level": {"type": "integer", "maximum": 5}}},
            },
        ],
    }
    page = Page(SchemaForm(schema).render())
    assert len(page.controls["p-level"]) == 1  # declared twice, rendered once
    assert page.conditional["level"] == {
        "any": [{"field": "p-mode", "in": ["a", "b"]}, {"field": "p-mode", "in": ["c"]}]
    }
    assert page.conditional["depth"] == {
        "all": [{"field": "p-mode", "in": ["a", "b"]}, {"field": "p-sub", "in": ["true"]}]
    }
    form = SchemaForm(schema, data=post(**{"p-mode": "c", "p-level": "9", "p-sub": "true", "p-depth": "1"}))
    assert not form.is_valid() and form.errors == {"level": ["Must be at most 5."]}  # depth: not for mode c
    form = SchemaForm(schema, data=post(**{"p-mode": "a", "p-level": "9", "p-sub": "true", "p-depth": "1"}))
    assert not form.is_valid() and form.errors == {"depth": ["Must be at least 2."]}
    form = SchemaForm(schema, data=post(**{"p-mode": "a", "p-depth": "1"}))  # sub unticked: no depth
    assert form.is_valid() and form.cleaned_data == {"mode": "a", "sub": False}


def test_conditions_inside_list_rows_name_their_own_row():
    schema = {
        "type": "object",
        "properties": {
            "steps": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {"kind": {"enum": ["sleep", "echo"]}},
                    "if": {"properties": {"kind": {"const": "sleep"}}, "required": ["kind"]},
                    "then": {"properties": {"seconds": {"type": "integer"}}},
                },
            }
        },
    }
    page = Page(SchemaForm(schema, initial={"steps": [{"kind": "echo"}]}).render())
    assert page.conditional["steps.0.seconds"] == {"field": "p-steps.0.kind", "in": ["sleep"]}
    form = SchemaForm(schema, data=post(**{"p-steps.0.kind": "echo", "p-steps.0.seconds": "3"}))
    assert form.is_valid() and form.cleaned_data == {"steps": [{"kind": "echo"}]}


def test_dependent_required_marks_the_missing_field():
    form = SchemaForm(RICH, ui=UI, data=valid(**{"p-owner": "ops"}))
    assert not form.is_valid() and form.errors == {"email": ["Required."]}
    assert validate_parameters(RICH, {"name": "abc", "size": 2, "owner": "x", "email": "a@b.c"}) == {}


# --- parsing ---------------------------------------------------------------------------


def test_empty_optional_inputs_are_omitted():
    form = SchemaForm(RICH, data=valid(**{"p-email": "", "p-ratio": " ", "p-flavour": "", "p-labels": "\n"}))
    assert form.is_valid(), form.errors
    assert set(form.cleaned_data) == {"name", "size", "early_stop", "verbose", "note"}


def test_an_empty_required_field_is_required_even_with_a_default():
    form = SchemaForm(RICH, data=post(**{"p-name": "abc", "p-size": ""}))
    assert not form.is_valid() and form.errors == {"size": ["Required."]}


@pytest.mark.parametrize("raw", ["three", "nan", "inf", "-Infinity", "1e400", "0x10"])
def test_numbers_that_do_not_parse_say_so(raw):
    form = SchemaForm(RICH, data=valid(**{"p-ratio": raw}))
    assert not form.is_valid()
    assert form.errors == {"ratio": ["Enter a number."]}
    assert Page(form.render()).one("p-ratio")["value"] == raw


def test_whole_numbers_and_numbers_are_typed():
    form = SchemaForm(RICH, data=post(**{"p-name": "abc", "p-size": "2.5"}))
    assert not form.is_valid() and form.errors == {"size": ["Enter a whole number."]}
    form = SchemaForm(RICH, data=post(**{"p-name": "abc", "p-size": "4.0", "p-ratio": "0.25"}))
    assert form.is_valid() and form.cleaned_data["size"] == 4 and isinstance(form.cleaned_data["size"], int)
    assert form.cleaned_data["ratio"] == 0.25


def test_a_plain_dict_is_accepted_as_data_and_render_validates_a_bound_form():
    form = SchemaForm(RICH, data={"p-name": "abc", "p-size": "0"})
    html = form.render()  # validates first, like a Django form would
    assert 'id="f-p-size-errors">Must be at least 1.' in html


def test_errors_set_by_the_caller_are_shown_on_an_unbound_form():
    form = SchemaForm(RICH, initial={"name": "abc", "size": 2})
    form.errors = {"size": ["Too big for this team."], "": ["Quota exceeded."], "gone": ["Unknown."]}
    page = Page(form.render())
    assert page.texts["f-p-size-errors"] == "Too big for this team."
    html = form.render()
    assert "Quota exceeded." in html and "Gone: Unknown." in html  # no field for it: on the form


@pytest.mark.parametrize(
    ("value", "message"),
    [("a" * 10_001, "At most 10000 characters."), ("\n".join(["x"] * 1_001), "Give at most 1000 items.")],
)
def test_huge_input_is_refused_even_where_the_schema_sets_no_limit(value, message):
    schema = {"type": "object", "properties": {"text": {"type": "string"}, "lines": {"type": "array"}}}
    name = "p-text" if value.startswith("a") else "p-lines"
    form = SchemaForm(schema, data=post(**{name: value}))
    assert not form.is_valid()
    assert form.errors == {name[2:]: [message]}


def test_huge_lists_of_rows_are_refused():
    data = valid(**{f"p-variants.{i}.weight": "1" for i in range(1_005)})
    form = SchemaForm(
        {
            **RICH,
            "properties": {
                **RICH["properties"],
                "variants": {
                    "type": "array",
                    "items": {"type": "object", "properties": {"weight": {"type": "integer"}}},
                },
            },
        },
        data=data,
    )
    assert not form.is_valid() and form.errors == {"variants": ["Give at most 1000 items."]}
    assert validate_parameters(RICH, {"name": "abc", "size": 1, "labels": ["x"] * 1_001}) == {
        "labels": ["Give at most 1000 items."]
    }


# --- errors: each keyword, beside its field ------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "path", "message"),
    [
        ({"p-name": ""}, "name", "Required."),
        ({"p-name": "ABC"}, "name", "Use lower-case letters only."),
        ({"p-name": "a"}, "name", "At least 2 characters."),
        ({"p-name": "abcdefghijk"}, "name", "At most 10 characters."),
        ({"p-size": "0"}, "size", "Must be at least 1."),
        ({"p-size": "11"}, "size", "Must be at most 10."),
        ({"p-ratio": "0"}, "ratio", "Must be more than 0."),
        ({"p-ratio": "1"}, "ratio", "Must be less than 1."),
        ({"p-ratio": "0.33"}, "ratio", "Must be a multiple of 0.05."),
        ({"p-email": "nope"}, "email", "Enter a valid email address."),
        ({"p-flavour": "mint"}, "flavour", "Choose one of: vanilla, chocolate."),
        ({"p-model": "svm"}, "model", "Choose one of: Random forest, Logistic."),
        ({"p-labels": "a\nb\nc\nd"}, "labels", "Give at most 3 items."),
        ({"p-labels": "a\na"}, "labels", "Items must not repeat."),
        ({"p-limits.cpu": "0"}, "limits.cpu", "Must be at least 1."),
        ({"p-variants.0.name": "a"}, "variants.0.weight", "Required."),
        ({"p-variants.0.weight": "101"}, "variants.0.weight", "Must be at most 100."),
        ({"p-flavour": "chocolate"}, "cocoa", "Required."),
        ({"p-flavour": "chocolate", "p-cocoa": "10"}, "cocoa", "Must be at least 50."),
        ({"p-rollout": "canary", "p-canary_percent": "80"}, "canary_percent", "Must be at most 50."),
        ({"p-name": "a" * 10_001}, "name", "At most 10000 characters."),
    ],
)
def test_each_form_error_lands_beside_its_field(fields, path, message):
    form = SchemaForm(RICH, ui=UI, data=valid(**fields))
    assert not form.is_valid()
    assert message in form.errors.get(path, []), form.errors
    page = Page(form.render())
    control = page.one(f"p-{path}")
    assert control["aria-invalid"] == "true"
    assert message in page.texts[control["aria-describedby"].split()[-1]]


@pytest.mark.parametrize(
    ("schema", "value", "errors"),
    [
        ({"type": "integer"}, "x", {"": ["Must be a whole number."]}),
        ({"type": ["string", "null"]}, 1, {"": ["Must be text or empty."]}),
        ({"const": "on"}, "off", {"": ["Must be on."]}),
        ({"type": "object", "additionalProperties": False}, {"zz": 1}, {"": ["Unknown field: zz."]}),
        ({"type": "object", "minProperties": 1}, {}, {"": ["Fill in at least 1 field."]}),
        ({"not": {"const": "root"}}, "root", {"": ["This value is not allowed."]}),
        ({"type": "array", "minItems": 2}, [1], {"": ["Give at least 2 items."]}),
        ({"type": "array", "contains": {"const": 1}}, [2], {"": ["Give at least one matching item."]}),
        ({"format": "date"}, "2024-13-01", {"": ["Enter a valid date (YYYY-MM-DD)."]}),
        (
            {"properties": {"a": {"anyOf": [{"type": "string"}, {"type": "integer"}]}}},
            {"a": 1.5},
            {"a": ["Must be text."]},
        ),
        ({"properties": {"a": False}}, {"a": 1}, {"a": ["Not allowed here."]}),
        (
            {"type": "object", "properties": {"t": {"type": "array", "items": {"type": "string"}}}},
            {"t": ["a", 2]},
            {"t.1": ["Must be text."]},
        ),
        ({"dependentRequired": {"a": ["b", "c"]}}, {"a": 1, "c": 2}, {"b": ["Required."]}),
        ({"required": ["a", "b"]}, {}, {"a": ["Required."], "b": ["Required."]}),
    ],
)
def test_each_keyword_has_a_human_message_at_its_path(schema, value, errors):
    assert validate_parameters(schema, value) == errors


def test_api_validation_uses_the_same_rules():
    errors = validate_parameters(RICH, {"name": "ABC", "size": 11, "flavour": "chocolate"})
    assert errors == {"name": ["Use lower-case letters only."], "size": ["Must be at most 10."], "cocoa": ["Required."]}
    assert validate_parameters(RICH, {"name": "abc", "size": 1}) == {}


# --- security, accessibility ---------------------------------------------------------------


def test_template_and_user_strings_are_escaped():
    schema = {
        "type": "object",
        "properties": {
            "x": {
                "type": "string",
                "title": "<script>t()</script>",
                "description": "<img src=x onerror=d()>",
                "default": "<script>v()</script>",
                "enum": ["<b>", "<script>v()</script>"],
            },
            "y": {"type": "string", "title": '"><script>y()</script>', "pattern": '^"><script>'},
        },
    }
    html = SchemaForm(schema, ui={"x": {"placeholder": "<i>"}}).render()
    assert "<script>" not in html and "<img" not in html and "<b>" not in html
    assert "&lt;script&gt;t()&lt;/script&gt;" in html and "&lt;img src=x onerror=d()&gt;" in html
    form = SchemaForm(schema, data=post(**{"p-x": '"><script>s()</script>', "p-y": "<script>w()</script>"}))
    assert not form.is_valid()
    html = form.render()
    assert "<script>" not in html and "&lt;script&gt;w()&lt;/script&gt;" in html
    assert Page(html).one("p-y")["value"] == "<script>w()</script>"  # round-trips as text
    assert "Choose one of: &lt;b&gt;" in html  # the message quotes the template's values, escaped


def test_every_control_has_a_label_and_its_descriptions_exist():
    value = {"variants": [{"weight": 1}], "flavour": "chocolate"}
    form = SchemaForm(RICH, ui=UI, initial=value)
    form.errors = {"size": ["x"], "regions": ["y"], "variants.0.weight": ["z"], "limits": ["w"]}
    page = Page(form.render())
    for name, controls in page.controls.items():
        for control in controls:
            if control.get("type") == "hidden":
                continue
            assert page.labels.get(control["id"]), name
            for described in control.get("aria-describedby", "").split():
                assert described in page.ids, (name, described)
    assert page.one("p-variants.0.weight")["aria-invalid"] == "true"
    assert page.texts["f-p-limits-errors"] == "w" and page.texts["f-p-regions-errors"] == "y"


def test_media_is_the_script():
    media = str(SchemaForm(RICH).media)
    assert "js/schema_form.js" in media and "defer" in media


# --- round trip ---------------------------------------------------------------------------


ROUND_TRIP = {
    "name": "abc",
    "email": "a@example.com",
    "size": 4,
    "ratio": 0.25,
    "flavour": "chocolate",
    "cocoa": 70,
    "model": "lr",
    "early_stop": False,
    "verbose": True,
    "labels": ["x", "y"],
    "seeds": [7, -1],
    "regions": ["eu", "ap"],
    "limits": {"cpu": 2, "nested": {"deep": "down"}},
    "variants": [{"name": "a", "weight": 60, "shadow": False}, {"name": "b", "weight": 40, "shadow": True}],
    "rollout": "canary",
    "canary_percent": 10,
    "note": "fixed",
    "notes": "two\nlines",
    "owner": "ops",
}


def test_round_trip_render_submit_validate():
    rendered = Page(SchemaForm(RICH, ui=UI, initial=ROUND_TRIP).render())
    form = SchemaForm(RICH, ui=UI, data=rendered.submission(), initial=ROUND_TRIP)
    assert form.is_valid(), form.errors
    assert form.cleaned_data == ROUND_TRIP
    # And again from what the bound form shows.
    again = SchemaForm(RICH, ui=UI, data=Page(form.render()).submission(), initial=ROUND_TRIP)
    assert again.is_valid(), again.errors
    assert again.cleaned_data == ROUND_TRIP


def test_round_trip_of_the_other_branch_and_empty_lists():
    value = {"name": "abc", "size": 3, "flavour": "vanilla", "vanilla_pods": 2, "early_stop": True}
    value |= {"verbose": False, "regions": [], "note": "fixed"}
    form = SchemaForm(RICH, ui=UI, data=Page(SchemaForm(RICH, ui=UI, initial=value).render()).submission())
    assert form.is_valid(), form.errors
    assert form.cleaned_data == value


# --- the parameter table ---------------------------------------------------------------------


def test_parameter_rows_cover_nested_and_conditional_parameters():
    rows = {row["path"]: row for row in parameter_rows(RICH, UI)}
    size = rows["size"]
    assert (size["constraints"], size["default"], size["minimum"], size["maximum"]) == ("1 to 10", 3, 1, 10)
    assert rows["name"]["required"] and rows["name"]["pattern"] == "^[a-z]+$" and rows["name"]["max_length"] == 10
    assert rows["name"]["description"] == "Letters only."  # the UI's help
    assert rows["ratio"]["constraints"] == ">0 to <1; multiple of 0.05" and rows["ratio"]["exclusive_minimum"] == 0
    assert rows["limits.nested.deep"]["type"] == "string" and rows["labels"]["type"] == "list of string"
    assert rows["variants[].weight"]["required"] and rows["variants[].weight"]["default"] == 50
    assert rows["cocoa"]["condition"] == "when flavour is chocolate"
    assert rows["cocoa"]["description"] == "(when flavour is chocolate)" and rows["cocoa"]["required"]
    assert rows["vanilla_pods"]["condition"] == "when flavour is not chocolate"
    assert rows["canary_percent"]["condition"] == "when rollout is given"
    assert rows["model"]["enum"] == ["Random forest", "Logistic"] and rows["flavour"]["enum"] == [
        "vanilla",
        "chocolate",
    ]
    assert rows["note"]["read_only"] and rows["email"]["format"] == "email"
    assert list(rows).index("limits") < list(rows).index("limits.cpu") < list(rows).index("variants")


# --- with JavaScript (Debian's chromium, Playwright; no server needed) --------------------------


@pytest.mark.browser
def test_the_script_shows_conditional_fields_and_adds_and_removes_rows(browser):  # noqa: F811
    from django.conf import settings
    from playwright.sync_api import expect

    form = SchemaForm(RICH, ui=UI, initial={"name": "abc", "variants": [{"name": "a", "weight": 60}]})
    page = browser.new_page()
    page.set_content(f"<form>{form.render()}</form>")
    page.add_script_tag(path=str(settings.BASE_DIR / "static" / "js" / "schema_form.js"))

    cocoa, pods, percent = (
        page.locator("#f-p-cocoa"),
        page.locator("#f-p-vanilla_pods"),
        page.locator("#f-p-canary_percent"),
    )
    expect(cocoa).to_be_hidden()
    expect(cocoa).to_be_disabled()
    expect(pods).to_be_visible()
    expect(percent).to_be_hidden()
    page.get_by_label("Flavour").select_option("chocolate")
    expect(cocoa).to_be_enabled()
    expect(cocoa).to_be_visible()
    expect(pods).to_be_hidden()
    expect(pods).to_be_disabled()
    page.get_by_label("canary", exact=True).check()
    expect(percent).to_be_visible()
    cocoa.fill("70")
    percent.fill("5")

    rows = page.locator("#f-p-variants [data-item]")
    expect(rows).to_have_count(1)  # the spare row is gone: "Add an item" instead
    page.get_by_role("button", name="Add an item").click()
    expect(rows).to_have_count(2)
    expect(page.locator("[name='p-variants.2.weight']")).to_have_value("50")  # the template row, with defaults
    expect(rows.nth(1).locator("[data-item-number]")).to_have_text("2")
    page.locator("[name='p-variants.2.name']").fill("b")
    rows.nth(0).get_by_role("button", name="Remove").click()
    expect(rows).to_have_count(1)
    expect(rows.nth(0).locator("[data-item-number]")).to_have_text("1")

    pairs = page.evaluate("() => Array.from(new FormData(document.querySelector('form')).entries())")
    bound = SchemaForm(RICH, ui=UI, data=post(*pairs))
    assert bound.is_valid(), bound.errors
    data = bound.cleaned_data
    assert (data["flavour"], data["cocoa"], data["rollout"], data["canary_percent"]) == ("chocolate", 70, "canary", 5)
    assert "vanilla_pods" not in data and data["variants"] == [{"name": "b", "weight": 50, "shadow": False}]
