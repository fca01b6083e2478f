from django.urls import NoReverseMatch, reverse

from apps.core.links import url_for

SECTIONS = [
    ("catalog", "Catalogue"),
    ("runs", "Runs"),
    ("models", "Models"),
    ("approvals", "Approvals"),
    ("deployments", "Deployments"),
    ("monitoring", "Monitoring"),
    ("costs", "Costs"),
]
# Sections the portal has in its design but not in this build. Their pages say
# so plainly; they never show invented data, and the menu shows them muted.
PLANNED: dict[str, str] = {}  # every section of the design is built
# Built sections: nav key -> URL name (its namespace marks the section active).
BUILT = {
    "catalog": "catalog:list",
    "runs": "runs:list",
    "models": "registry:models",
    "approvals": "approvals:inbox",
    "deployments": "deployments:list",
    "costs": "costs:dashboard",
    "monitoring": "monitoring:fleet",
}


def navigation(request):
    if not request.user.is_authenticated:
        return {}
    match = request.resolver_match
    namespace = match.namespace if match else ""
    active = (match.kwargs.get("section") if match else "") or next(
        (key for key, name in BUILT.items() if name.split(":")[0] == namespace), namespace
    )
    return {
        "nav_items": [
            {
                "label": label,
                "url": _section_url(key),
                "active": key == active,
                "built": key in BUILT,
                "note": f"Not built yet: {PLANNED[key]}" if key in PLANNED and key not in BUILT else "",
            }
            for key, label in SECTIONS
        ],
    }


def _section_url(key: str) -> str:
    try:
        # A cached pattern: seven reverse() calls made on every page cost half a millisecond.
        return url_for(BUILT[key])
    except (KeyError, NoReverseMatch):  # not in this build: its "not built yet" page
        return reverse("section", args=[key])
