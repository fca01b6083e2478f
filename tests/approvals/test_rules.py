"""The rules of a promotion, on the services (no backend: the write-back and
the deployment are tested in test_write_back.py): quorum, separation of
duties, any rejection rejects, required evidence, expiry, withdrawal, one
open request, versioned policies, and the API's answers."""

from datetime import timedelta

import pytest
from django.core.exceptions import PermissionDenied
from django.utils import timezone

from apps.accounts.models import Role
from apps.approvals import outcomes, policies, rules, services
from apps.approvals.models import CheckStatus, Decision, EvidenceCheck, PromotionRequest, Status
from apps.audit.models import AuditEvent
from apps.core.errors import Conflict, InvalidInput
from apps.notifications.models import Notification
from apps.runs.models import Run, RunKind
from tests.registry.factories import make_model

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin(make_user):
    return make_user("boss", role=Role.ADMIN)  # a fixed name: the notifications are asserted by name


@pytest.fixture
def approvers(make_user):
    return make_user("approver", role=Role.APPROVER), make_user("approver2", role=Role.APPROVER)


@pytest.fixture
def environments(admin, team):
    staging = policies.environment_save(user=admin, team=team, name="staging", approvals_required=1)
    production = policies.environment_save(
        user=admin,
        team=team,
        name="production",
        approvals_required=2,
        checks={"champion": {"required": True, "max_drop": 0.01}},
    )
    return staging, production


@pytest.fixture
def version(team):
    return make_model(team=team, versions=2).versions.get(version="2")


def ask(ds, version, environment="production", **kw):
    return services.promotion_request(user=ds, version=version, environment=environment, **kw)


def evidence_done(request, status=CheckStatus.PASSED):
    """The evidence run's result, set directly: these tests are about the decision rules."""
    EvidenceCheck.objects.filter(request=request).update(status=status, collected_at=timezone.now())


def test_a_request_collects_evidence_and_tells_the_eligible_approvers(ds, version, environments, approvers, make_user):
    make_user("outsider-approver", role=Role.APPROVER, teams=[])
    request = ask(ds, version, reason="Better recall")
    assert request.status == Status.PENDING and request.policy.version == 1
    assert request.expires_at - timezone.now() > timedelta(days=6, hours=23)
    run = Run.objects.get(pk=request.evidence_run_id)
    assert run.kind == RunKind.EVIDENCE and run.created_by == ds
    assert {s.action for s in run.steps.all()} == {"evidence_check"}
    assert set(request.checks.values_list("key", flat=True)) == {s.key for s in run.steps.all()}
    told = Notification.objects.filter(url=request.get_absolute_url())
    assert sorted(told.values_list("user__username", flat=True)) == ["approver", "approver2", "boss"]
    assert AuditEvent.objects.filter(action="promotion.requested", target_id=str(request.pk)).exists()


def test_production_needs_two_approvals_and_the_requester_never_approves(
    ds, version, environments, approvers, make_user, monkeypatch, django_capture_on_commit_callbacks
):
    applied = []
    monkeypatch.setattr(services, "enqueue_apply", applied.append)
    approver, approver2 = approvers
    # A data scientist who also holds the approver role still cannot approve their own request.
    both = make_user("ds-and-approver")
    both.groups.add(*approver.groups.all())
    request = ask(both, version)
    evidence_done(request)
    with pytest.raises(PermissionDenied, match="separation of duties"):
        services.promotion_decide(user=both, request=request, decision="approve")
    with pytest.raises(PermissionDenied, match="Only approvers"):
        services.promotion_decide(user=ds, request=request, decision="approve")

    request = services.promotion_decide(user=approver, request=request, decision="approve")
    assert request.status == Status.PENDING and applied == []
    with pytest.raises(Conflict, match="already decided"):
        services.promotion_decide(user=approver, request=request, decision="approve")
    with django_capture_on_commit_callbacks(execute=True):
        request = services.promotion_decide(user=approver2, request=request, decision="approve", comment="ok")
    assert request.status == Status.APPROVED and request.decided_at is not None
    assert applied == [request.pk]
    messages = list(Notification.objects.filter(user=both).values_list("message", flat=True))
    assert sum(m.startswith("Approved:") for m in messages) == 1
    assert any("approved" in m and "(1 of 2)" in m for m in messages)
    assert list(
        AuditEvent.objects.filter(target_id=str(request.pk)).order_by("id").values_list("actor_name", "action")
    ) == [
        ("ds-and-approver", "promotion.requested"),
        ("approver", "promotion.approved"),
        ("approver2", "promotion.approved"),
    ]


def test_one_rejection_rejects_and_needs_a_comment(ds, version, environments, approvers):
    approver, approver2 = approvers
    request = ask(ds, version)
    with pytest.raises(InvalidInput, match="Say why"):
        services.promotion_decide(user=approver, request=request, decision="reject", comment="  ")
    assert not Decision.objects.exists()
    request = services.promotion_decide(user=approver, request=request, decision="reject", comment="Too slow")
    assert request.status == Status.REJECTED
    with pytest.raises(Conflict, match="rejected"):
        services.promotion_decide(user=approver2, request=request, decision="approve")
    told = Notification.objects.get(user=ds, message__startswith="Rejected")
    assert "Too slow" in told.message


def test_a_required_check_that_failed_or_is_still_collecting_blocks_approval(ds, version, environments, approvers):
    approver, _ = approvers
    request = ask(ds, version)
    with pytest.raises(Conflict, match="still being collected"):
        services.promotion_decide(user=approver, request=request, decision="approve")
    EvidenceCheck.objects.filter(request=request, key="champion").update(status=CheckStatus.FAILED)
    with pytest.raises(Conflict, match="did not pass"):
        services.promotion_decide(user=approver, request=request, decision="approve")
    # Rejecting is always possible.
    assert services.promotion_decide(user=approver, request=request, decision="reject", comment="worse").status == (
        Status.REJECTED
    )


def test_expiry_reminds_a_day_before_then_expires(ds, version, environments, approvers):
    approver, _ = approvers
    request = ask(ds, version, environment="staging")
    now = timezone.now()
    assert outcomes.promotions_sweep(now=now) == {"expired": 0, "reminded": 0, "resumed": 0}
    assert outcomes.promotions_sweep(now=request.expires_at - timedelta(hours=12))["reminded"] == 1
    assert outcomes.promotions_sweep(now=request.expires_at - timedelta(hours=11))["reminded"] == 0  # once
    assert Notification.objects.filter(user=approver, message__startswith="Expires within a day").count() == 1
    assert outcomes.promotions_sweep(now=request.expires_at + timedelta(seconds=1))["expired"] == 1
    request.refresh_from_db()
    assert request.status == Status.EXPIRED
    evidence_done(request)
    with pytest.raises(Conflict, match="expired"):
        services.promotion_decide(user=approver, request=request, decision="approve")


def test_a_decision_after_the_deadline_finds_it_expired(ds, version, environments, approvers):
    request = ask(ds, version, environment="staging")
    evidence_done(request)
    PromotionRequest.objects.filter(pk=request.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    with pytest.raises(Conflict, match="expired"):
        services.promotion_decide(user=approvers[0], request=request, decision="approve")
    request.refresh_from_db()
    assert request.status == Status.EXPIRED and not Decision.objects.exists()


def test_one_open_request_per_version_and_environment_and_withdrawal(ds, version, environments, make_user):
    request = ask(ds, version)
    with pytest.raises(Conflict, match="already has an open request"):
        ask(ds, version)
    ask(ds, version, environment="staging")  # another environment is another request
    with pytest.raises(PermissionDenied):
        services.promotion_withdraw(user=make_user("colleague"), request=request)
    services.promotion_withdraw(user=ds, request=request)
    request.refresh_from_db()
    assert request.status == Status.WITHDRAWN
    with pytest.raises(Conflict):
        services.promotion_withdraw(user=ds, request=request)
    assert ask(ds, version).status == Status.PENDING  # withdrawn: a new one may be asked


def test_bad_requests_make_nothing(ds, version, environments, make_user, other_team, team):
    with pytest.raises(InvalidInput, match="No environment 'prod'"):
        ask(ds, version, environment="prod")
    with pytest.raises(InvalidInput) as bad:
        ask(ds, version, deployment={"endpoint": "no spaces allowed", "target": "tpu", "instance_count": 0})
    assert set(bad.value.errors) == {"deployment.endpoint", "deployment.target", "deployment.instance_count"}
    with pytest.raises(InvalidInput, match="Unknown setting"):
        ask(ds, version, deployment={"endpoint": "fraud", "rollout": {"strategy": "canary", "speed": 3}})
    with pytest.raises(PermissionDenied):
        ask(make_user("stranger", teams=[other_team]), version)
    with pytest.raises(PermissionDenied):
        ask(make_user("manager", role=Role.MANAGER), version)
    assert not PromotionRequest.objects.exists() and not Run.objects.exists()


def test_policies_are_versioned_and_a_request_keeps_its_version(ds, version, environments, admin, team, approvers):
    staging, _ = environments
    request = ask(ds, version, environment="staging")
    policies.environment_save(user=admin, team=team, name="staging", approvals_required=2)
    policies.environment_save(user=admin, team=team, name="staging", approvals_required=2)  # no change: no version
    assert list(staging.policies.values_list("version", "approvals_required")) == [(2, 2), (1, 1)]
    evidence_done(request)
    request = services.promotion_decide(user=approvers[0], request=request, decision="approve")
    assert request.status == Status.APPROVED  # judged under version 1: one approval
    with pytest.raises(PermissionDenied):
        policies.environment_save(user=ds, team=team, name="staging")
    with pytest.raises(InvalidInput) as bad:
        policies.environment_save(
            user=admin, team=team, name="latest", approvals_required=0, checks={"champion": {"max_drop": "a lot"}}
        )
    assert set(bad.value.errors) == {"name", "approvals_required", "checks.champion.max_drop"}


def test_named_approver_teams_decide_and_others_do_not(ds, version, admin, team, other_team, make_user):
    risk = make_user("risk-approver", role=Role.APPROVER, teams=[other_team])
    local = make_user("team-approver", role=Role.APPROVER)
    policies.environment_save(user=admin, team=team, name="production", approver_teams=[other_team])
    request = ask(ds, version)
    evidence_done(request)
    assert "other teams" in rules.decide_refusal(user=local, request=request)
    assert rules.decide_refusal(user=risk, request=request) == ""
    assert services.promotion_decide(user=risk, request=request, decision="approve").status == Status.APPROVED


def test_the_api_answers_like_the_services(ds, api, version, environments, approvers, client, make_user, other_team):
    from rest_framework.test import APIClient

    body = {
        "model_version": str(version.pk),
        "environment": "production",
        "reason": "Better",
        "deployment": {
            "endpoint": "fraud-prod",
            "target": "cpu",
            "instance_count": 1,
            "rollout": {"strategy": "canary", "percent": 10, "bake_seconds": 60},
        },
    }
    created = api.post("/api/v1/promotions/", body, format="json")
    assert created.status_code == 201, created.content
    data = created.json()
    assert data["status"] == "pending" and data["approvals_required"] == 2 and data["environment"] == "production"
    assert data["deployment"]["rollout"]["strategy"] == "canary" and data["deployment"]["endpoint"] == "fraud-prod"
    assert {c["key"] for c in data["evidence"]} >= {"champion"}
    assert api.post("/api/v1/promotions/", body, format="json").status_code == 409
    bad = api.post("/api/v1/promotions/", {**body, "environment": "nope"}, format="json")
    assert bad.status_code == 400 and "No environment 'nope'" in bad.json()["environment"][0]

    def as_user(user):
        c = APIClient()
        c.force_authenticate(user)
        return c

    approver, approver2 = approvers
    url = f"/api/v1/promotions/{data['id']}/"
    assert as_user(approver).get("/api/v1/promotions/?to_decide=1").json()["count"] == 1
    assert api.get("/api/v1/promotions/?to_decide=1").json()["count"] == 0
    assert api.get("/api/v1/promotions/?mine=1&status=pending").json()["count"] == 1
    assert api.get("/api/v1/promotions/?status=bogus").status_code == 400
    assert api.post(url + "decide/", {"decision": "approve"}, format="json").status_code == 403  # a data scientist
    manager = as_user(make_user("mgr", role=Role.MANAGER))
    assert manager.get(url).status_code == 200
    assert manager.post(url + "decide/", {"decision": "approve"}, format="json").status_code == 403
    assert as_user(make_user("else", teams=[other_team])).get(url).status_code == 404
    assert as_user(approver).post(url + "decide/", {"decision": "maybe"}, format="json").status_code == 400
    assert as_user(approver).post(url + "decide/", {"decision": "reject"}, format="json").status_code == 400
    assert (
        as_user(approver).post(url + "decide/", {"decision": "approve"}, format="json").status_code == 409
    )  # evidence
    evidence_done(PromotionRequest.objects.get(pk=data["id"]))
    assert as_user(approver).post(url + "decide/", {"decision": "approve"}, format="json").json()["approvals"] == 1
    decided = as_user(approver2).post(url + "decide/", {"decision": "approve", "comment": "go"}, format="json").json()
    assert decided["status"] == "approved" and [d["approver"] for d in decided["decisions"]] == [
        "approver",
        "approver2",
    ]
    assert api.post(url + "withdraw/", format="json").status_code == 409

    environments_seen = api.get("/api/v1/environments/").json()
    assert {e["name"]: e["policy"]["approvals_required"] for e in environments_seen["results"]} == {
        "production": 2,
        "staging": 1,
    }
    assert api.post("/api/v1/environments/", {"name": "qa"}, format="json").status_code == 403


def test_lists_take_a_constant_number_of_queries(ds, api, team, environments, django_assert_max_num_queries):
    def listing():
        with django_assert_max_num_queries(12):
            assert api.get("/api/v1/promotions/").status_code == 200

    ask(ds, make_model(team=team, versions=1).versions.get())
    listing()
    for _ in range(10):
        ask(ds, make_model(team=team, versions=1).versions.get())
    listing()
