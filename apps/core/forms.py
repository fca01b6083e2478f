"""What every list page's filter bar shares."""

from django import forms


class FilterForm(forms.Form):
    """A filter bar: the ``primary`` fields stay in view, the others fold into a
    "More filters" disclosure, open when one of them is in use. Every control is
    named for screen readers by its field's label (the bar shows no label text
    beside selects and search boxes; their first choice or placeholder says it)."""

    primary: tuple[str, ...] = ()

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for name, field in self.fields.items():
            if not isinstance(field.widget, forms.CheckboxInput):
                field.widget.attrs.setdefault("aria-label", field.label or name.replace("_", " ").capitalize())

    def primary_fields(self) -> list[forms.BoundField]:
        return [self[name] for name in self.fields if name in self.primary]

    def more_fields(self) -> list[forms.BoundField]:
        return [self[name] for name in self.fields if name not in self.primary]

    def more_in_use(self) -> int:
        """How many of the folded filters are set (the disclosure says so, and opens)."""
        if not self.is_bound:
            return 0
        return sum(1 for field in self.more_fields() if field.value() not in (None, "", False, [], "False"))
