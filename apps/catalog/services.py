"""Every write to the catalogue: loading template files, admin edits, launching
(and dry-running) a template."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

import yaml
from django.core.exceptions import PermissionDenied
from django.db import transaction

from apps.accounts.models import Team, User
from apps.audit.services import audit_record
from apps.connections.models import Connection
from apps.core.errors import InvalidInput
from apps.runs.expressions import resolve
from apps.runs.models import Run, RunStep
from apps.runs.operations import OPERATIONS
from apps.runs.services import run_target_check, template_run_create

from . import selectors
from .models import Tag, Template, TemplateVersion
from .schema_form import validate_parameters
from .spec import SpecError, declared_properties, spec_check, spec_checksum, with_defaults

logger = logging.getLogger(__name__)

MAX_TEMPLATE_BYTES = 256 * 1024
MAX_PARAMETERS_BYTES = 64 * 1024


class TemplateRefused(Exception):
    """A template file or edit that cannot be loaded; the live version stays."""

    def __init__(self, source: str, errors: list[SpecError]):
        self.source = source
        self.errors = errors
        super().__init__("; ".join(f"{source}:{error}" for error in errors))


@dataclass
class LoadResult:
    source: str
    template: Template | None = None
    outcome: str = ""  # "created", "updated", "unchanged", "refused"
    errors: list[SpecError] = field(default_factory=list)

    def __str__(self):
        if self.errors:
            return "\n".join(f"{self.source}:{error}" for error in self.errors)
        return f"{self.source}: {self.outcome} ({self.template.slug} v{self.template.current_version.number})"


# --- loading -------------------------------------------------------------------------


def spec_parse(text: str, *, source: str) -> dict:
    """YAML text to a checked spec, or TemplateRefused with locations."""
    if len(text.encode()) > MAX_TEMPLATE_BYTES:
        raise TemplateRefused(source, [SpecError("", f"The file is over {MAX_TEMPLATE_BYTES // 1024} KiB.")])
    try:
        spec = yaml.safe_load(text)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        raise TemplateRefused(source, [SpecError("", f"{where}not valid YAML ({getattr(error, 'problem', error)})")])
    if errors := spec_check(spec):
        raise TemplateRefused(source, errors)
    return spec


def catalog_load(*, folder: Path) -> list[LoadResult]:
    """Load every ``*.yaml`` in ``folder``. A file that is refused leaves its
    template's live version as it was; the others load regardless."""
    results = []
    for path in sorted(folder.glob("*.y*ml")):
        source = f"{folder.name}/{path.name}"
        try:
            spec = spec_parse(path.read_text(encoding="utf-8"), source=source)
            template, outcome = template_save(spec=spec, source=source)
            results.append(LoadResult(source=source, template=template, outcome=outcome))
        except TemplateRefused as refused:
            logger.warning("Template refused: %s", refused)
            results.append(LoadResult(source=source, outcome="refused", errors=refused.errors))
    return results


def template_save(*, spec: dict, source: str, user: User | None = None) -> tuple[Template, str]:
    """Store a checked spec: a new version when it differs from the live one."""
    checksum = spec_checksum(spec)
    with transaction.atomic():
        owner = _owner_team(spec["owner"])
        template = Template.objects.select_for_update().filter(slug=spec["slug"]).first()
        outcome = "updated"
        if template is None:
            template = Template(slug=spec["slug"])
            outcome = "created"
        elif template.current_version and template.current_version.checksum == checksum and not template.archived:
            return template, "unchanged"
        _mirror(template, spec, owner)
        template.save()
        number = (template.versions.order_by("-number").values_list("number", flat=True).first() or 0) + 1
        version = TemplateVersion.objects.create(
            template=template, number=number, spec=spec, checksum=checksum, source=source[:300], created_by=user
        )
        template.current_version = version
        template.save(update_fields=["current_version", "updated_at"])
        template.tags.set([Tag.objects.get_or_create(name=name)[0] for name in spec.get("tags", [])])
        selectors.facets_changed()
    return template, outcome


def _owner_team(slug: str) -> Team:
    team = Team.objects.filter(slug=slug).first()
    if team is None:
        from apps.accounts.services import team_get_or_create

        team = team_get_or_create(name=slug.replace("-", " ").title())
    return team


def _mirror(template: Template, spec: dict, owner: Team) -> None:
    """Copy what browsing filters and searches on out of the spec."""
    template.name = spec["name"]
    template.summary = spec.get("summary", "")
    template.description = spec.get("description", "")
    template.owner = owner
    template.visibility = spec.get("visibility", "organisation")
    template.kind = spec["kind"]
    template.backends = "," + ",".join(spec["backends"]) + ","
    template.archived = False
    words = [spec["name"], spec.get("summary", ""), spec.get("description", ""), *spec.get("tags", []), spec["slug"]]
    template.search_text = " ".join(words).lower()


def template_edit(*, template: Template, text: str, user: User) -> TemplateVersion:
    """An admin's edit of the YAML in the portal: checked like a file, a new version if it changed."""
    if not user.is_portal_admin:
        raise PermissionDenied("Only admins edit templates.")
    spec = spec_parse(text, source="edit")
    if spec["slug"] != template.slug:
        raise TemplateRefused("edit", [SpecError("/slug", "The slug names the template; it cannot change here.")])
    with transaction.atomic():
        template, _ = template_save(spec=spec, source=f"edited in the portal by {user.username}", user=user)
        version = template.current_version
        audit_record(
            actor=user, action="template.edit", target=template, team=template.owner, data={"version": version.number}
        )
    return version


def template_archive(*, template: Template, user: User) -> None:
    if not user.is_portal_admin:
        raise PermissionDenied("Only admins archive templates.")
    with transaction.atomic():
        Template.objects.filter(pk=template.pk).update(archived=True)
        selectors.facets_changed()
        audit_record(actor=user, action="template.archive", target=template, team=template.owner)


def spec_as_yaml(spec: dict) -> str:
    return yaml.safe_dump(spec, sort_keys=False, allow_unicode=True)


# --- launching ---------------------------------------------------------------------------


@dataclass(frozen=True)
class PlannedStep:
    position: int
    key: str
    name: str
    action: str
    inputs: dict  # resolved; outputs of earlier steps show as "<from step …>"
    problems: list[str]


def _check_launch(
    *, version: TemplateVersion, params: object, backend: str, connection: Connection | None
) -> tuple[dict, str]:
    """Validate the parameters and the backend choice for this template."""
    if not isinstance(params, dict):
        raise InvalidInput({"params": ["Must be an object."]})
    if len(str(params).encode()) > MAX_PARAMETERS_BYTES:
        raise InvalidInput({"params": [f"Parameters are over {MAX_PARAMETERS_BYTES // 1024} KiB."]})
    params = with_defaults(version.parameters, params)
    errors = validate_parameters(version.parameters, params)
    if "additionalProperties" not in version.parameters and "patternProperties" not in version.parameters:
        # A template declares its parameters: any other is refused, as additionalProperties: false would.
        known = declared_properties(version.parameters)
        for name in sorted(set(params) - known):
            errors.setdefault(name, []).append("Not a parameter of this template.")
    if errors:
        raise InvalidInput({"params": errors})
    kind = connection.kind if connection else backend
    if kind not in version.spec["backends"]:
        supported = ", ".join(version.spec["backends"])
        raise InvalidInput.one("connection" if connection else "backend", f"This template runs on {supported} only.")
    return params, kind


def template_plan(
    *, version: TemplateVersion, params: dict, backend_kind: str, run_context: dict | None = None
) -> list[PlannedStep]:
    """The steps a launch would run on a backend of ``backend_kind``, inputs
    resolved as far as they can be before anything runs. Pure: calls no
    backend and writes nothing."""
    context = {"parameters": params, "steps": {}, "run": run_context or {"id": "(new)", "name": "", "team": ""}}
    planned = []
    for position, step in enumerate(version.steps):
        pending: list[str] = []

        def placeholder(path: str, pending=pending) -> str:
            pending.append(path)
            _, step_id, _, *rest = path.split(".") + ["", "", ""]
            return f"<from step {step_id}: {'.'.join(r for r in rest if r)}>"

        inputs = resolve(step.get("input", {}), context, on_unresolved=placeholder)
        problems = []
        if step["action"] != RunStep.APPROVAL and not pending:
            operation = OPERATIONS[step["action"]]
            errors = operation.validate(inputs) or operation.validate_for(inputs, backend_kind=backend_kind)
            problems = [f"{key}: {', '.join(map(str, value))}" for key, value in _flat(errors)]
        planned.append(
            PlannedStep(
                position=position,
                key=step["id"],
                name=step.get("name") or step["id"].replace("_", " ").capitalize(),
                action=step["action"],
                inputs=inputs,
                problems=problems,
            )
        )
    return planned


def _flat(errors: dict, prefix: str = ""):
    for key, value in errors.items():
        if isinstance(value, dict):
            yield from _flat(value, f"{prefix}{key}.")
        else:
            yield f"{prefix}{key}", value if isinstance(value, list) else [value]


def template_dry_run(
    *,
    user: User,
    template: Template,
    params: object,
    backend: str = "local",
    connection: Connection | None = None,
    team: Team | None = None,
) -> list[PlannedStep]:
    """Validate a launch and show its plan. Creates nothing, calls no backend."""
    # As the launch checks: who may use what first, the template's own rules, then the backend kind.
    run_target_check(user=user, team=team, backend=backend, connection=connection, scope_only=True)
    plan = _checked_plan(template=template, params=params, backend=backend, connection=connection)[1]
    run_target_check(user=user, team=team, backend=backend, connection=connection)
    return plan


def _checked_plan(*, template: Template, params: object, backend: str, connection: Connection | None):
    version = _launchable_version(template)
    params, kind = _check_launch(version=version, params=params, backend=backend, connection=connection)
    plan = template_plan(version=version, params=params, backend_kind=kind)
    if problems := {f"steps.{step.key}": step.problems for step in plan if step.problems}:
        raise InvalidInput(problems)
    return params, plan


def template_launch(
    *,
    user: User,
    template: Template,
    params: object,
    backend: str = "local",
    connection: Connection | None = None,
    team: Team | None = None,
    name: str = "",
) -> Run:
    """Start a run of the template's live version, one run step per template step."""
    run_target_check(user=user, team=team, backend=backend, connection=connection, scope_only=True)
    params, _ = _checked_plan(template=template, params=params, backend=backend, connection=connection)
    return template_run_create(
        user=user,
        version=template.current_version,
        params=params,
        backend=backend,
        connection=connection,
        team=team,
        name=name.strip() or _run_name(template, params),
    )


def _run_name(template: Template, params: dict) -> str:
    subject = params.get("model_name") or params.get("endpoint") or params.get("name") or ""
    return f"{template.name}: {subject}" if subject else template.name


def _launchable_version(template: Template) -> TemplateVersion:
    if template.archived or template.current_version is None:
        raise InvalidInput.one("template", "This template is archived and cannot be launched.")
    return template.current_version
