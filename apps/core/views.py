from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import redirect, render
from django.templatetags.static import static
from django.views.decorators.cache import cache_control
from django.views.decorators.http import require_safe

from . import home as home_panels
from .context_processors import PLANNED, SECTIONS


@login_required
def home(request):
    """The landing page: the panels of the person's roles (apps/core/home.py)."""
    roles = home_panels.user_roles(request.user)
    return render(
        request,
        "home/home.html",
        {
            "roles": [label for key, label in home_panels.ROLE_LABELS.items() if key in roles],
            "panels": home_panels.panels_for(request, roles),
        },
    )


@login_required
def getting_started(request):
    """A newcomer's first task, for each of their roles, with links to the real pages."""
    roles = home_panels.user_roles(request.user)
    return render(
        request,
        "home/getting_started.html",
        {
            "roles": [label for key, label in home_panels.ROLE_LABELS.items() if key in roles],
            "scientist": bool(roles & {home_panels.DATA_SCIENTIST, home_panels.ADMIN}),
            "approver": bool(roles & {home_panels.APPROVER, home_panels.ADMIN}),
            "manager": bool(roles & {home_panels.MANAGER, home_panels.ADMIN}),
        },
    )


@login_required
def section(request, section: str):
    if section not in PLANNED:
        raise Http404
    label = dict(SECTIONS)[section]
    return render(request, "core/planned.html", {"title": label, "description": PLANNED[section]})


@require_safe
@cache_control(max_age=86400, public=True)
def favicon(request):
    """Browsers ask for /favicon.ico whatever the page says; send them to the
    static icon (its name carries a content hash in production)."""
    return redirect(static("favicon.svg"))
