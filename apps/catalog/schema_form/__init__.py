"""Forms generated from a template's parameters JSON Schema (draft 2020-12).

``SchemaForm`` renders the schema as HTML fields, parses a submitted form back
into a JSON value (typed as the schema says) and validates it with
``jsonschema``, giving each error to the field it concerns. The API validates
JSON with ``validate_parameters``: the same rules, the same messages. The
detail page lists the parameters with ``parameter_rows``.

Conditional fields (``if``/``then``/``else``, ``dependentSchemas``, nested in
each other or in ``allOf``) are rendered with the condition they depend on:
static/js/schema_form.js shows and hides them (and disables hidden ones, so
they are not submitted); without JavaScript they are all shown, and the server
drops the values of those whose condition does not hold on the parsed value,
before validating.
"""

from .errors import validate_parameters
from .form import Field, SchemaForm
from .rows import parameter_rows
from .schema import MAX_ITEMS, MAX_STRING

__all__ = ["MAX_ITEMS", "MAX_STRING", "Field", "SchemaForm", "parameter_rows", "validate_parameters"]
