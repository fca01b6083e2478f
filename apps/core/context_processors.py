from django.urls import NoReverseMatch, reverse

SECTIONS = [
    ("catalog", "Catalogue"),
    ("runs", "Runs"),
    ("models", "Models"),
    ("approvals", "Approvals"),
    ("deployments", "Deployments"),
    ("monitoring", "Monitoring"),
    ("costs", "Costs"),
]
# Built sections: nav key -> URL name (its namespace marks the section active).
BUILT = {"catalog": "catalog:list", "runs": "runs:list", "models": "registry:models"}


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
            }
            for key, label in SECTIONS
        ],
    }


def _section_url(key: str) -> str:
    try:
        return reverse(BUILT[key])
    except (KeyError, NoReverseMatch):  # not in this build: its "not built yet" page
        return reverse("section", args=[key])
