from django import template

register = template.Library()


@register.filter
def decimals(value, places: int = 4) -> str:
    """A metric with ``places`` decimals ("" when not a number): floatformat
    without its Decimal and locale work, which tells on a 100-row table."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        try:
            value = float(value)
        except (TypeError, ValueError):
            return ""
    return f"{value:.{int(places)}f}"


@register.filter
def get_item(mapping, key):
    """``mapping[key]`` in a template ("" when missing)."""
    if not isinstance(mapping, dict):
        return ""
    return mapping.get(key, "")
