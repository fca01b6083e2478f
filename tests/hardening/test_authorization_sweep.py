"""The authorization sweep (issue 15, drills): every route of the URL conf
(walked with Django's resolver, not a hand list) x anonymous / a member of the
team that owns the objects / each role of another team. Every route needs a
decision in ``DECISIONS``; a new route without one fails this test.

What each decision means for each caller is checked on every request:
no 500; anonymous callers are sent to log in (HTML) or get 401/403 (API);
another team's object ids are 404 (or 403/405 before any lookup), never a
success and never the object's name in the body; admin-only routes refuse
every other role. The owning team's member is the control: its reads succeed,
so the 404s above come from the permission decision and not a bad URL."""

from __future__ import annotations

import re
import uuid
from collections import Counter
from datetime import date

import pytest
from django.urls import URLPattern, URLResolver, get_resolver

pytestmark = pytest.mark.django_db

# url name -> who may use it. "public": anyone; "user": any logged-in person;
# "team": a person of the object's team (others: 404); "admin": portal admins
# only; "staff": Django's admin site (its own staff check); "signed": a
# webhook with its own signature check.
DECISIONS = {
    "home": "user",
    "favicon": "public",
    "login": "public",
    "logout": "public",
    "section": "user",
    "getting-started": "user",
    "accounts:tokens": "user",
    "accounts:token-create": "user",
    "accounts:token-revoke": "team",
    "runs:list": "user",
    "runs:new": "user",
    "runs:detail": "team",
    "runs:cancel": "team",
    "runs:retry": "team",
    "runs:step-decide": "team",
    "connections:list": "admin",
    "connections:new": "admin",
    "connections:edit": "admin",
    "connections:test": "admin",
    "catalog:list": "user",
    "catalog:detail": "team",
    "catalog:launch": "team",
    "catalog:edit": "admin",
    "catalog:version": "team",
    "registry:models": "user",
    "registry:sync": "user",
    "registry:mlflow-webhook": "signed",
    "registry:model": "team",
    "registry:model-sync": "team",
    "registry:compare": "team",
    "registry:version": "team",
    "registry:version-alias": "team",
    "registry:version-alias-remove": "team",
    "registry:version-tag": "team",
    "registry:version-tag-remove": "team",
    "registry:version-archive": "team",
    "registry:version-unarchive": "team",
    "notifications:list": "user",
    "notifications:read-all": "user",
    "audit:list": "user",
    "api-token": "public",
    "api-root": "user",
    "api-schema": "public",
    "run-list": "user",
    "run-detail": "team",
    "run-cancel": "team",
    "run-decide": "team",
    "run-retry": "team",
    "registered-model-list": "user",
    "registered-model-detail": "team",
    "registered-model-compare": "team",
    "registered-model-sync": "team",
    "registered-model-versions": "team",
    "model-version-detail": "team",
    "model-version-alias": "team",
    "model-version-alias-remove": "team",
    "model-version-archive": "team",
    "model-version-tags": "team",
    "model-version-tags-remove": "team",
    "model-version-unarchive": "team",
    "template-list": "user",
    "template-detail": "team",
    "template-dry-run": "team",
    "template-launch": "team",
    "audit-event-list": "user",
    "connection-list": "user",
    "deployments:list": "user",
    "deployments:deploy": "user",
    "deployments:endpoint": "team",
    "deployments:live": "team",
    "deployments:charts": "team",
    "deployments:traffic": "team",
    "deployments:promote": "team",
    "deployments:rollback": "team",
    "deployments:delete": "team",
    "endpoint-list": "user",
    "endpoint-detail": "team",
    "endpoint-metrics": "team",
    "endpoint-promote": "team",
    "endpoint-rollback": "team",
    "endpoint-traffic": "team",
    "gateway:keys": "team",
    "gateway:key-create": "team",
    "gateway:key-revoke": "team",
    "api-endpoint-keys": "team",
    "api-endpoint-key-revoke": "team",
    "approvals:inbox": "user",
    "approvals:new": "user",  # a version of another team is a 404 (with ?version=)
    "approvals:environments": "user",  # everyone reads their teams' policies; a POST is for admins
    "approvals:environment": "admin",
    "approvals:version": "team",
    "approvals:request": "team",
    "approvals:decide": "team",
    "approvals:evidence": "team",
    "approvals:outcome": "team",
    "approvals:withdraw": "team",
    "approvals:retry": "team",
    "promotion-list": "user",
    "promotion-detail": "team",
    "promotion-decide": "team",
    "promotion-withdraw": "team",
    "promotion-retry": "team",
    "environment-list": "user",  # everyone reads their teams' policies; a POST is for admins
    "environment-detail": "team",
    "costs:dashboard": "user",  # the person's teams' costs only
    "costs:budgets": "user",  # a POST is for managers and admins, for their teams
    "costs:budget": "team",
    "costs:budget-delete": "team",
    "costs:budget-webhook-test": "team",
    "costs:backfill": "user",  # managers and admins, the connections of their teams
    "costs:scale-down": "user",  # managers and admins, of their teams' endpoints only
    "costs:version": "team",  # the version's model's team
    "cost-list": "user",
    "cost-per-prediction": "user",
    "cost-per-version": "user",  # the person's teams' costs and versions only
    "cost-backfill": "user",
    "budget-list": "user",
    "budget-detail": "team",
    "budget-test-webhook": "team",
    "monitoring:fleet": "user",
    "monitoring:new": "user",  # data scientists only (others: 403); the endpoint list is the person's teams'
    "monitoring:monitor": "team",
    "monitoring:evaluate": "team",
    "monitoring:toggle": "team",
    "monitoring:delete": "team",
    "monitoring:webhook": "team",
    "monitoring:webhook-test": "team",
    "monitoring:report": "team",
    "drift-report-list": "user",
    "drift-report-detail": "team",
    "monitor-list": "user",
    "monitor-detail": "team",
    "monitor-reports": "team",
    "monitor-alerts": "team",
    "monitor-test-webhook": "team",
}
ADMIN_SITE_SAMPLE = re.compile(r"^admin:(index|\w+_changelist)$")  # the admin site: staff only, sampled


def routes():
    """(name, route pattern, converters) of every named route."""

    def walk(resolver, prefix="", namespace=""):
        for pattern in resolver.url_patterns:
            if isinstance(pattern, URLResolver):
                inner = namespace + (f"{pattern.namespace}:" if pattern.namespace else "")
                yield from walk(pattern, prefix + str(pattern.pattern), inner)
            elif isinstance(pattern, URLPattern) and pattern.name:
                yield namespace + pattern.name, prefix + str(pattern.pattern)

    return list(walk(get_resolver()))


def decision(name: str) -> str | None:
    return "staff" if name.startswith("admin:") else DECISIONS.get(name)


def test_every_route_has_a_permission_decision():
    names = {name for name, _ in routes()}
    missing = sorted(n for n in names if decision(n) is None)
    assert not missing, f"Routes without a permission decision in DECISIONS: {missing}"
    assert not set(DECISIONS) - names, f"Decisions for routes that are gone: {sorted(set(DECISIONS) - names)}"


def test_every_operation_of_the_openapi_schema_is_a_swept_route():
    from django.urls import resolve
    from drf_spectacular.generators import SchemaGenerator

    schema = SchemaGenerator().get_schema(request=None, public=True)
    for path in schema["paths"]:
        concrete = re.sub(r"\{[^}]+\}", "00000000-0000-0000-0000-000000000000", path)
        match = resolve(concrete.replace("/{slug}/", "/x/"))
        name = f"{match.namespace}:{match.url_name}" if match.namespace else match.url_name
        assert decision(name), f"{path} ({name}) has no permission decision"


@pytest.fixture
def theirs(make_user, other_team, team):
    """Team Beta's objects: a run with a step, a model with versions, a
    connection, a team-only template, an API token."""
    from apps.accounts.models import Role
    from apps.accounts.services import api_token_create
    from apps.catalog.services import spec_parse, template_save
    from apps.connections.services import connection_create
    from apps.runs.models import Run, RunStep
    from tests.catalog.conftest import minimal_spec
    from tests.registry.factories import make_model

    owner = make_user("beta-ds", teams=[other_team])
    root = make_user("beta-root", role=Role.ADMIN, teams=[other_team])
    run_id = uuid.uuid4()
    run = Run.objects.create(
        id=run_id,
        team=other_team,
        created_by=owner,
        kind="train",
        backend="local",
        status="failed",
        params={"model_name": "beta-secret-run"},
        name="beta-secret-run",
        idempotency_key=f"atr-{run_id.hex}",
    )
    step = RunStep.objects.create(
        run=run,
        position=0,
        key="train",
        name="Training",
        action="train",
        status="failed",
        idempotency_key=run.idempotency_key,
    )
    model = make_model(team=other_team, name="beta-secret-model", versions=2)
    connection = connection_create(
        user=root,
        name="beta-secret-conn",
        kind="sagemaker",
        secrets={},
        teams=[other_team],
        config={
            "region": "us-east-1",
            "execution_role_arn": "arn:aws:iam::123456789012:role/x",
            "output_s3_uri": "s3://bucket/out",
        },
    )
    spec = minimal_spec(slug="beta-secret-template", name="Beta secret", owner=other_team.slug, visibility="team")
    template, _ = template_save(spec=spec_parse(spec, source="t.yaml"), source="t.yaml")
    token, _ = api_token_create(user=owner)
    from apps.deployments.models import Endpoint
    from apps.gateway.services import api_key_create

    endpoint = Endpoint.objects.create(team=other_team, backend="local", source="local", name="beta-secret-endpoint")
    gateway_key, _ = api_key_create(user=owner, endpoint=endpoint, consumer="beta-secret-consumer")
    from apps.approvals.policies import environment_save
    from apps.approvals.services import promotion_request

    environment = environment_save(user=root, team=other_team, name="production")
    from apps.costs.models import Budget, DailyCost

    budget = Budget.objects.create(team=other_team, amount=100)
    DailyCost.objects.create(
        day=date.today(),
        source="local",
        backend="local",
        team=other_team,
        team_tag="beta",
        model_name="beta-secret-model",
        endpoint="beta-secret-endpoint",
        amount=5,
    )
    promotion = promotion_request(user=owner, version=model.versions.get(number=2), environment="production")
    from apps.monitoring.models import DriftReport, Monitor

    monitor = Monitor.objects.create(
        team=other_team,
        created_by=owner,
        name="beta-secret-monitor",
        source="dataset",
        dataset="beta-secret-data.parquet",
        reference={"dataset": "beta-secret-data.parquet"},
        reference_label="beta-secret-data.parquet",
    )
    drift_report = DriftReport.objects.create(
        team=other_team,
        created_by=owner,
        monitor=monitor,
        reference_label="beta-secret-data.parquet",
        current_label="beta-secret-data.parquet",
    )
    return {
        "budget": budget,
        "monitor": monitor,
        "drift_report": drift_report,
        "environment": environment,
        "promotion": promotion,
        "endpoint": endpoint,
        "gateway_key": gateway_key,
        "owner": owner,
        "run": run,
        "step": step,
        "model": model,
        "version": model.versions.get(number=1),
        "connection": connection,
        "template": template,
        "token": token,
    }


def fill(name: str, route: str, objects: dict) -> str | None:
    """The route's URL with the object ids of ``objects``; None for admin object pages."""
    pk = {
        "runs:": "run",
        "run-": "run",
        "connections:": "connection",
        "registry:": "model",
        "registered-model-": "model",
        "model-version-": "version",
        "accounts:": "token",
        "deployments:": "endpoint",
        "endpoint-": "endpoint",
        "approvals:": "promotion",
        "promotion-": "promotion",
        "environment-": "environment",
        "costs:version": "version",
        "costs:": "budget",
        "budget-": "budget",
        "monitoring:report": "drift_report",
        "monitoring:": "monitor",
        "monitor-": "monitor",
        "drift-report-": "drift_report",
    }
    values = {
        "pk": next((str(objects[v].pk) for k, v in pk.items() if name.startswith(k)), None),
        "step_pk": str(objects["step"].pk),
        "step_id": str(objects["step"].pk),
        "slug": objects["template"].slug,
        "section": "monitoring",
        "kind": "sagemaker",
        "number": "1",
        "version": "1",
        "app_label": "runs",
        "endpoint_id": str(objects["endpoint"].pk),
        "key_id": str(objects["gateway_key"].pk),
        "environment_id": str(objects["environment"].pk),
        "version_id": str(objects["version"].pk),
    }
    path = route.replace("^", "").replace("$", "")
    for key in re.findall(r"<(?:\w+:)?(\w+)>|\(\?P<(\w+)>[^)]*\)", path):
        key = key[0] or key[1]
        if values.get(key) is None:
            return None
        path = re.sub(rf"<(?:\w+:)?{key}>|\(\?P<{key}>[^)]*\)", values[key], path, count=1)
    return "/" + path


def callers(client_factory, make_user, team, other_team, owner):
    from apps.accounts.models import Role

    people = {"anonymous": None, "owner-team": owner}
    for role in (Role.DATA_SCIENTIST, Role.APPROVER, Role.MANAGER, Role.ADMIN):
        people[role.value] = make_user(f"alpha-{role.value}", role=role, teams=[team])
    from apps.accounts.services import api_token_create

    clients = {}
    for label, user in people.items():
        page, api = client_factory(), client_factory()
        if user is not None:
            page.force_login(user)
            api = client_factory(HTTP_AUTHORIZATION=f"Token {api_token_create(user=user)[1]}")
        page.raise_request_exception = api.raise_request_exception = False
        clients[label] = (page, api)
    return clients


def test_every_route_for_every_caller(theirs, make_user, team, other_team, settings, monkeypatch):
    from django.test import Client

    settings.MLFLOW_TRACKING_URI = "http://127.0.0.1:9"  # nothing listens: a backend call fails fast
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "2")
    clients = callers(Client, make_user, team, other_team, theirs["owner"])
    problems, outcomes = [], Counter()
    secrets = (
        "beta-secret-run",
        "beta-secret-model",
        "beta-secret-conn",
        "beta-secret-template",
        "beta-secret-endpoint",
        "beta-secret-consumer",
        "beta-secret-monitor",
        "beta-secret-data",
    )
    for name, route in sorted(routes(), key=lambda r: r[0] in {"logout", "admin:logout"}):  # logging out: last
        if name.startswith("admin:") and not ADMIN_SITE_SAMPLE.match(name):
            continue
        url = fill(name, route, theirs)
        if url is None:
            continue
        rule = decision(name)
        api = url.startswith("/api/")
        for label, (page, api_client) in clients.items():
            client = api_client if api else page
            for method in ("get", "post"):
                if label in {"admin", "owner-team"} and method == "post" and rule in {"team", "admin"}:
                    continue  # a real change to a real backend: the unit tests cover these callers' writes
                response = (
                    getattr(client, method)(url, {}, content_type="application/json")
                    if api and method == "post"
                    else getattr(client, method)(url)
                )
                code = response.status_code
                outcomes[code] += 1
                why = _wrong(rule, label, method, api, code, response)
                body = response.content.decode(errors="replace") if label not in {"admin", "owner-team"} else ""
                if (
                    label not in {"admin", "owner-team"}
                    and rule in {"team", "admin"}
                    and any(s in body for s in secrets)
                ):
                    why = why or "another team's object name in the body"
                if why:
                    where = response.get("Location", "")
                    problems.append(f"{method.upper()} {url} as {label}: {code} {where} ({why})")
    print(f"sweep: {sum(outcomes.values())} requests, outcomes {dict(sorted(outcomes.items()))}")
    assert not problems, "\n".join(problems)


def _wrong(rule, label, method, api, code, response) -> str:
    if code >= 500:
        return "server error"
    if label == "anonymous" and rule not in {"public", "signed"}:
        if api and code not in {401, 403, 405}:
            return "anonymous API call not refused"
        if not api and not (code == 302 and "login" in response.get("Location", "")) and code != 405:
            return "anonymous page not sent to log in"
        return ""
    if label in {"admin", "owner-team", "anonymous"}:
        if label == "owner-team" and rule == "team" and method == "get" and code == 404:
            return "the control (the owning team) cannot see its own object"
        return ""
    if rule == "team" and code not in {403, 404, 405}:
        return "another team's object not refused"
    if rule in {"admin", "staff"} and code not in {302, 403, 404, 405}:
        return "admin-only route open to a non-admin"
    return ""
