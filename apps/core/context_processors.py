from django.urls import reverse

SECTIONS = [
    ("catalog", "Catalogue"),
    ("runs", "Runs"),
    ("models", "Models"),
    ("approvals", "Approvals"),
    ("deployments", "Deployments"),
    ("monitoring", "Monitoring"),
    ("costs", "Costs"),
]
BUILT = {"runs": "runs:list"}


def navigation(request):
    match = request.resolver_match
    active = (match.kwargs.get("section") or match.namespace) if match else ""
    return {
        "nav_items": [
            {
                "label": label,
                "url": reverse(BUILT[key]) if key in BUILT else reverse("section", args=[key]),
                "active": key == active,
            }
            for key, label in SECTIONS
        ]
    }
