from django import template

register = template.Library()


@register.filter
def get_item(mapping, key):
    """``mapping[key]`` in a template ("" when missing)."""
    if not isinstance(mapping, dict):
        return ""
    return mapping.get(key, "")
