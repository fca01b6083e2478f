from django.db.models import Count, Q, QuerySet

from apps.accounts.models import User
from apps.runs.models import Run
from apps.runs.selectors import run_visible

from .models import Tag, Template, Visibility


def template_visible(*, user: User) -> QuerySet[Template]:
    """Organisation-wide templates, and team-private ones of the user's teams (admins: all)."""
    templates = Template.objects.all()
    if user.is_portal_admin:
        return templates
    return templates.filter(Q(visibility=Visibility.ORGANISATION) | Q(owner__in=user.teams.all()))


def template_list(
    *, user: User, q: str = "", kind: str = "", tag: str = "", owner: str = "", backend: str = ""
) -> QuerySet[Template]:
    templates = template_visible(user=user).filter(archived=False)
    if q:
        # Lower-cased on both sides, so PostgreSQL's trigram index on search_text serves it.
        templates = templates.filter(search_text__contains=q.strip().lower())
    if kind:
        templates = templates.filter(kind=kind)
    if tag:
        templates = templates.filter(tags__name=tag)
    if owner:
        templates = templates.filter(owner__slug=owner)
    if backend:
        templates = templates.filter(backends__contains=f",{backend},")
    # Cards need neither the description nor the search text, nor the version's spec.
    templates = templates.select_related("owner", "current_version").defer(
        "description", "search_text", "current_version__spec"
    )
    return templates.prefetch_related("tags").order_by("name")


def tag_facets(*, user: User) -> QuerySet[Tag]:
    visible = template_visible(user=user).filter(archived=False)
    return Tag.objects.filter(templates__in=visible).annotate(count=Count("templates")).order_by("-count", "name")[:30]


def template_recent_runs(*, template: Template, user: User, limit: int = 10) -> list[Run]:
    runs = run_visible(user=user).filter(template_version__template=template)
    return list(runs.select_related("template_version")[:limit])


def templates_for_home(*, user: User, limit: int = 6) -> list[Template]:
    """Quick launch: the templates the person launches most (their favourites),
    then the most launched by anyone, then by name. One query."""
    mine = Count("versions__runs", filter=Q(versions__runs__created_by=user))
    templates = (
        template_visible(user=user)
        .filter(archived=False)
        .defer("description", "search_text")
        .annotate(launched_by_me=mine, launched=Count("versions__runs"))
        .order_by("-launched_by_me", "-launched", "name")
    )
    return list(templates[:limit])
