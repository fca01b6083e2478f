"""The home page's panels, lent by the apps that own their data.

Core knows no feature app (it is the bottom layer): an app registers a panel
here in its ``AppConfig.ready`` with the roles it is for, and the home page
shows the panels of the person's roles, in order. A panel's ``context(request)``
reads through its app's selectors in a constant number of queries; a panel
whose capability is not built yet says so (``planned``) and reads nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

# Role names as in apps.accounts.models.Role (core cannot import accounts).
DATA_SCIENTIST, APPROVER, MANAGER, ADMIN = "data_scientist", "approver", "manager", "admin"
ROLE_LABELS = {
    DATA_SCIENTIST: "Data scientist",
    APPROVER: "Approver",
    MANAGER: "Manager",
    ADMIN: "Admin",
}


@dataclass(frozen=True)
class Panel:
    key: str
    title: str
    template: str
    roles: frozenset[str]
    order: int
    context: Callable | None = None  # fn(request) -> dict; None: a planned panel
    planned: str = ""  # what it will show, for a panel not built yet


_panels: dict[str, Panel] = {}


def home_panel(key: str, *, title: str, template: str, roles, order: int = 50):
    """Register ``fn(request) -> dict`` as the context of a home panel."""

    def register(fn):
        _panels[key] = Panel(key=key, title=title, template=template, roles=frozenset(roles), order=order, context=fn)
        return fn

    return register


def planned_panel(key: str, *, title: str, roles, description: str, order: int = 90) -> None:
    """A panel for a capability not built yet: shown plainly as such, no data."""
    _panels[key] = Panel(
        key=key,
        title=title,
        template="home/_planned.html",
        roles=frozenset(roles),
        order=order,
        planned=description,
    )


def user_roles(user) -> set[str]:
    """The person's roles (one query); a superuser is an admin."""
    roles = set(user.groups.values_list("name", flat=True))
    if user.is_superuser:
        roles.add(ADMIN)
    return roles & set(ROLE_LABELS)


def panels_for(request, roles: set[str]) -> list[dict]:
    shown = []
    for panel in sorted(_panels.values(), key=lambda p: (p.order, p.key)):
        if not (panel.roles & roles):
            continue
        context = panel.context(request) if panel.context else {}
        shown.append({"panel": panel, **context})
    return shown
