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


# What registries say when they do not know (MLflow's local file store, a missing user id).
_UNKNOWN = {"", "unknown", "none", "null"}


@register.filter
def registered_by(version) -> str:
    """Who registered a version: the portal user who started the run that
    trained it, else the registry's own ``created_by``, else "" (never "unknown")."""
    run = getattr(version, "run", None) if getattr(version, "run_id", None) else None
    if run is not None and run.created_by_id:
        return run.created_by.username
    found = (version.created_by or "").strip()
    return "" if found.lower() in _UNKNOWN else found
