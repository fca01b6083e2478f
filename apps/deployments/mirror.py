"""The endpoint mirror: every endpoint on the local backend and on every
connection, including those made outside the portal, kept fresh by the beat
as the registry's mirror keeps models (``apps/registry/sync.py``): read each
source through the Endpoints capability (never a vendor SDK here), then write
what changed, one endpoint per transaction, with no transaction open across a
backend call.

The portal's own endpoints are written by the runs that change them
(``services.endpoint_follow_step``); the gateway routes by their weights, so
the mirror never rewrites them. It only notices one that is gone from its
backend (deleted in the cloud console) and says so. An endpoint the portal
did not deploy is *found*: its row is ``discovered``, owned by a team, and
its variants, split and state are the backend's, re-read whenever the
backend's change marker (``EndpointSummary.fingerprint``) moves. Its history
says when it was found and changed, and what it served from then on when the
versions or instance counts moved (the cost split's record, ``history.py``).
Once the portal deploys a version to it, it is the portal's (``endpoint_adopt``).

Which team owns a found endpoint, first rule that applies:

1. the ``team`` tag the portal puts on what it makes (or someone put by
   hand), naming a team by slug, if that team may use the connection (a tag
   anyone with cloud access can write must not show an endpoint to a team
   outside the connection);
2. the team that owned the row before;
3. for a connection, the first (by name) of the teams allowed to use it;
4. none: the endpoint is left out (counted as unowned) until one applies.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass, field

from django.db import IntegrityError, transaction
from django.utils import timezone

from apps.accounts.models import Team
from apps.backends.base import BackendError, EndpointDetails, Endpoints, EndpointSummary, require
from apps.connections.sources import Source, source_key, sources
from apps.runs.models import TERMINAL, Run, RunKind, RunStep

from .models import Endpoint, EndpointEvent, EndpointState, Variant

logger = logging.getLogger(__name__)

# The portal's endpoints it may call gone when the backend no longer lists them: settled ones.
# One still being made, deleted, or failing (a failed create may never have reached the
# backend) is left to the runs that change it.
SETTLED = (EndpointState.IN_SERVICE, EndpointState.UPDATING)


@dataclass
class MirrorReport:
    found: int = 0  # new rows: endpoints the portal had not seen
    changed: int = 0  # found endpoints re-read because the backend says they changed
    unchanged: int = 0
    unowned: int = 0  # no team to show them to (see the module's docstring)
    gone: int = 0  # marked deleted: no longer on the backend
    errors: list[str] = field(default_factory=list)


def endpoints_sync(*, full: bool = False) -> dict[str, MirrorReport]:
    """Every source; one failing source does not stop the others."""
    return {source.label: source_sync(source=source, full=full) for source in sources()}


def source_sync(*, source: Source, full: bool = False) -> MirrorReport:
    """``full`` re-reads every found endpoint, changed or not (tags move no change marker)."""
    report = MirrorReport()
    started = timezone.now()
    try:
        backend = require(source.backend(), Endpoints)
        listed = backend.list_endpoints()
    except BackendError as exc:
        report.errors.append(exc.message)
        logger.warning("endpoint mirror of %s: %s", source.label, exc.message)
        return report
    rows = {row.name: row for row in Endpoint.objects.filter(source=source.key)}
    for summary in listed:
        row = rows.get(summary.name)
        if row is not None and not _mirrored(row):
            continue  # the portal's own: its runs keep it
        if summary.state == EndpointState.DELETING and (row is None or row.state == EndpointState.DELETED):
            continue  # on its way out (the portal's delete, say): nothing to show
        if row is not None and not full and _unchanged(row, summary):
            report.unchanged += 1
            continue
        try:
            details = backend.endpoint_details(summary.name)
        except BackendError as exc:
            report.errors.append(f"{summary.name}: {exc.message}")
            continue
        outcome = _write(source, details, summary)
        if outcome == "found":
            report.found += 1
        elif outcome == "unowned":
            report.unowned += 1
        elif outcome:
            report.changed += 1
    names = {summary.name for summary in listed}
    report.gone = _mark_gone(source, [row for name, row in rows.items() if name not in names], before=started)
    logger.info("endpoint mirror of %s: %s", source.label, report)
    return report


def _mirrored(row: Endpoint) -> bool:
    """Rows the mirror writes: found ones (unless the portal is rolling out to them or
    deleting them: its run says how that ends), and a deleted row whose name someone
    has used again outside the portal."""
    if row.state == EndpointState.DELETED:
        return True
    return row.discovered and row.rollout_run_id is None and row.state != EndpointState.DELETING


def _unchanged(row: Endpoint, summary: EndpointSummary) -> bool:
    return bool(summary.fingerprint) and row.fingerprint == summary.fingerprint and row.state != EndpointState.DELETED


def _write(source: Source, details: EndpointDetails, summary: EndpointSummary) -> str:
    """Create or update the found endpoint's row: "found", "changed", "same", "unowned" or "" (left alone)."""
    if _deployed_by_a_run_in_flight(details.tags):
        return ""  # the portal is making it: the run's own step writes its row
    weights = {v.name[:63]: int(v.weight) for v in details.variants}
    try:
        with transaction.atomic():
            row = Endpoint.objects.select_for_update().filter(source=source.key, name=details.name).first()
            if row is not None and not _mirrored(row):
                return ""  # the portal deployed to it since the list was read
            team_id = _owner(source, details.tags, row)
            if team_id is None:
                return "unowned"
            new = row is None or row.state == EndpointState.DELETED
            if row is None:
                row = Endpoint(backend=source.kind, connection=source.connection, source=source.key, name=details.name)
            elif new:
                row.created_by = None  # a deleted endpoint's name, used again outside the portal
            old = [] if new else list(row.variants.all())
            before = None if new else (_variant_facts(old), dict(row.weights))
            row.team_id = team_id
            row.discovered = True
            row.state = details.state if details.state in EndpointState.values else EndpointState.UPDATING
            row.message = details.message[:2000]
            row.weights = weights
            row.fingerprint = summary.fingerprint[:200]
            row.synced_at = timezone.now()
            row.save()
            after = _variant_facts(_variants(row, details))
            if before is not None and before == (after, weights):
                return "same"
            row.variants.all().delete()
            variants = Variant.objects.bulk_create(_variants(row, details))
            # What the cost split reads (history.py): only a new configuration is recorded
            served = _served(variants)
            served = served if new or served != _served(old) else []
            serving = _serving(details)
            if new:
                message = f"Found on {source.label}, made outside the portal: {serving}"
                kind = EndpointEvent.Kind.FOUND
            else:
                message = f"Changed on {source.label}, outside the portal: {serving}"
                kind = EndpointEvent.Kind.CHANGED
            EndpointEvent.objects.create(
                endpoint=row, kind=kind, automatic=True, message=message, weights=weights, variants=served
            )
            return "found" if new else "changed"
    except IntegrityError:
        return ""  # the portal created the row meanwhile (a deployment started): it is the portal's now


def _variants(row: Endpoint, details: EndpointDetails) -> list[Variant]:
    return [
        Variant(
            endpoint=row,
            name=v.name[:63],
            model_name=v.model.name[:500],
            model_version=str(v.model.version)[:50],
            instance_type=v.instance_type[:100],
            instance_count=max(0, int(v.instance_count)),
        )
        for v in details.variants
    ]


def _variant_facts(variants) -> list[tuple]:
    return sorted((v.name, v.model_name, v.model_version, v.instance_type, v.instance_count) for v in variants)


def _served(variants) -> list[dict]:
    """What each variant serves, as a deploy step records it (``params["variants"]``)."""
    fields = ("name", "model_name", "model_version", "instance_count")
    return [{f: getattr(v, f) for f in fields} for v in sorted(variants, key=lambda v: v.name)]


def _serving(details: EndpointDetails) -> str:
    if not details.variants:
        return "no variant yet"
    return ", ".join(
        f"{v.name} ({v.model.name}{f' v{v.model.version}' if v.model.version else ''}, "
        f"{v.instance_count} × {v.instance_type or 'unknown hardware'}) at {v.weight}%"
        for v in details.variants
    )


def _deployed_by_a_run_in_flight(tags: dict[str, str]) -> bool:
    try:
        run_id = uuid.UUID(tags.get("run", ""))
    except ValueError:
        return False
    return Run.objects.filter(pk=run_id).exclude(status__in=TERMINAL).exists()


def _owner(source: Source, tags: dict[str, str], row: Endpoint | None):
    allowed = None if source.connection is None else {t.pk for t in source.connection.teams.all()}
    slug = tags.get("team")
    if slug:
        team_id = Team.objects.filter(slug=slug).values_list("pk", flat=True).first()
        if team_id is not None and (allowed is None or team_id in allowed):
            return team_id
    if row is not None and row.team_id:
        return row.team_id
    if source.connection is not None:
        teams = sorted(source.connection.teams.all(), key=lambda t: t.name)
        return teams[0].pk if teams else None
    return None


def _mark_gone(source: Source, rows: list[Endpoint], *, before) -> int:
    """Rows whose endpoint the backend no longer lists. Each is marked only if
    nothing touched it since the list was read (a deployment creating it, say)."""
    gone = 0
    for row in rows:
        if row.state in (EndpointState.DELETED, EndpointState.DELETING) or row.updated_at >= before:
            continue  # (a portal run is deleting it: its own step says so when it ends)
        if not row.discovered and (row.state not in SETTLED or row.rollout_run_id):
            continue
        with transaction.atomic():
            now = timezone.now()
            marked = Endpoint.objects.filter(pk=row.pk, state=row.state, updated_at=row.updated_at).update(
                state=EndpointState.DELETED, weights={}, message="", synced_at=now, updated_at=now
            )
            if marked:
                EndpointEvent.objects.create(
                    endpoint=row,
                    kind=EndpointEvent.Kind.DELETED,
                    automatic=True,
                    message=f"No longer on {source.label}: deleted outside the portal",
                )
                gone += 1
    return gone


def endpoint_adopt(step: RunStep) -> None:
    """The portal deployed to an endpoint it had found: from now on it is the
    portal's (its runs write the row; the mirror stops rewriting it)."""
    if step.action != RunKind.DEPLOY:
        return
    name = step.params.get("endpoint") or step.inputs.get("endpoint")
    if name:
        Endpoint.objects.filter(source=source_key(step.run.connection_id), name=name, discovered=True).update(
            discovered=False, fingerprint=""
        )
