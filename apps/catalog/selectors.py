import hashlib
import time
import uuid
from collections import defaultdict
from dataclasses import dataclass

from django.core.cache import cache
from django.db import transaction
from django.db.models import Count, Q, QuerySet

from apps.accounts.models import User
from apps.core.links import url_for
from apps.core.pagination import MergedPages
from apps.core.scoping import user_team_ids
from apps.runs.models import Run
from apps.runs.selectors import run_visible

from .models import Tag, Template, TemplateKind, Visibility


def template_visible(*, user: User) -> QuerySet[Template]:
    """Organisation-wide templates, and team-private ones of the user's teams (admins: all)."""
    templates = Template.objects.all()
    if user.is_portal_admin:
        return templates
    return templates.filter(Q(visibility=Visibility.ORGANISATION) | Q(owner_id__in=user_team_ids(user)))


def template_list(
    *, user: User, q: str = "", kind: str = "", tag: str = "", owner: str = "", backend: str = ""
) -> QuerySet[Template]:
    templates = _filtered(template_visible(user=user), q=q, kind=kind, tag=tag, owner=owner, backend=backend)
    return _for_cards(templates).order_by("name")


def template_pages(
    *, user: User, q: str = "", kind: str = "", tag: str = "", owner: str = "", backend: str = ""
) -> MergedPages:
    """The Catalogue's list, for the Paginator: the same templates as ``template_list``,
    read as two parts that each walk an index in name order (organisation-wide ones on
    (visibility, name, archived), the team-only ones of the person's teams on
    (visibility, owner, name, archived)) and merged."""
    filtered = _filtered(Template.objects.all(), q=q, kind=kind, tag=tag, owner=owner, backend=backend)
    return MergedPages(_visible_parts(filtered, user=user), order=("name",), rows=template_cards)


def _visible_parts(templates: QuerySet[Template], *, user: User) -> list[QuerySet[Template]]:
    """``templates`` the person can see, as disjoint parts that each walk an index in name order."""
    if user.is_portal_admin:
        return [templates]
    return [
        templates.filter(visibility=Visibility.ORGANISATION),
        templates.filter(visibility=Visibility.TEAM, owner_id__in=user_team_ids(user)),
    ]


def _filtered(templates: QuerySet[Template], *, q="", kind="", tag="", owner="", backend="") -> QuerySet[Template]:
    templates = templates.filter(archived=False)
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
    return templates


def _for_cards(templates: QuerySet[Template]) -> QuerySet[Template]:
    # Cards need neither the description nor the search text, nor the version's spec.
    templates = templates.select_related("owner", "current_version").defer(
        "description", "search_text", "current_version__spec"
    )
    return templates.prefetch_related("tags")


_KIND_LABELS = dict(TemplateKind.choices)
CARD_COLUMNS = (
    *("id", "slug", "name", "summary", "kind", "backends", "visibility"),
    *("owner__name", "current_version__number"),
)


@dataclass(frozen=True, slots=True)
class TemplateCard:
    """One card of the Catalogue, every field already formatted: the template only places them."""

    pk: uuid.UUID
    url: str
    name: str
    summary: str
    kind_label: str
    backends: tuple[str, ...]
    team_only: bool
    owner: str
    version: int | str  # the current version's number ("" when it has none, as the template showed it)
    tags: tuple[str, ...]  # by name


def template_cards(ids) -> list[TemplateCard]:
    """The cards of these templates (in no particular order), with their tags: two queries."""
    tags = defaultdict(list)
    through = Template.tags.through.objects.filter(template_id__in=ids).order_by("tag__name")
    for template_id, tag in through.values_list("template_id", "tag__name"):
        tags[template_id].append(tag)
    cards = []
    for pk, slug, name, summary, kind, backends, visibility, owner, version in (
        Template.objects.filter(pk__in=ids).order_by().values_list(*CARD_COLUMNS)
    ):
        cards.append(
            TemplateCard(
                pk=pk,
                url=url_for("catalog:detail", slug),
                name=name,
                summary=summary,
                kind_label=_KIND_LABELS.get(kind, kind),
                backends=tuple(b for b in backends.split(",") if b),
                team_only=visibility == Visibility.TEAM,
                owner=owner,
                version="" if version is None else version,
                tags=tuple(tags[pk]),
            )
        )
    return cards


FACETS_SECONDS = 60
_FACETS_REVISION = "catalog:facets:revision"


def tag_facets(*, user: User) -> list[Tag]:
    """The tags of the templates the person can see, most used first, with counts.
    Counting them reads every visible template (13 ms of the Catalogue's 15 with
    10,000 templates), so they are kept a minute per set of teams, and dropped
    when a template is saved or archived (``facets_changed``)."""
    scope = "all" if user.is_portal_admin else ",".join(sorted(map(str, user_team_ids(user))))
    revision = cache.get(_FACETS_REVISION, 0)
    key = f"catalog:facets:{revision}:{hashlib.sha256(scope.encode()).hexdigest()[:32]}"
    return cache.get_or_set(key, lambda: _tag_facets(user=user), FACETS_SECONDS)


def _tag_facets(*, user: User) -> list[Tag]:
    visible = template_visible(user=user).filter(archived=False)
    return list(
        Tag.objects.filter(templates__in=visible).annotate(count=Count("templates")).order_by("-count", "name")[:30]
    )


def facets_changed() -> None:
    """A template was saved or archived: the tag counts are read again (now and
    once the change is committed, so no reader keeps the old counts meanwhile)."""

    def bump():
        cache.set(_FACETS_REVISION, time.time_ns(), None)

    bump()
    transaction.on_commit(bump)


def template_recent_runs(*, template: Template, user: User, limit: int = 10) -> list[Run]:
    runs = run_visible(user=user).filter(template_version__template=template)
    return list(runs.select_related("template_version")[:limit])


def templates_for_home(*, user: User, limit: int = 6) -> list[Template]:
    """Quick launch: the templates the person launches most (their favourites),
    then the most launched by anyone, then by name. Counting launches over every
    template grouped and sorted them all (52 ms of SQL with 10,000 templates), so
    the launched ones are counted from their runs (an inner join: templates never
    launched are not grouped), and the rest read in name order up to ``limit``,
    each part walking its index. At most four queries."""
    live = Template.objects.filter(archived=False).defer("description", "search_text")
    launched = list(
        template_visible(user=user)
        .filter(archived=False, versions__runs__template_version__isnull=False)  # PostgreSQL: from the index
        .defer("description", "search_text")
        .annotate(
            launched_by_me=Count("versions__runs", filter=Q(versions__runs__created_by=user)),
            launched=Count("versions__runs"),
        )
        .order_by("-launched_by_me", "-launched", "name")[:limit]
    )
    seen = {template.pk for template in launched}
    rest = [t for part in _visible_parts(live, user=user) for t in part.order_by("name")[:limit] if t.pk not in seen]
    for template in rest:
        template.launched_by_me = template.launched = 0
    return launched + sorted(rest, key=lambda template: template.name)[: limit - len(launched)]
