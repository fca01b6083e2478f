"""What follows an approval: the decision written to the model's own registry
(the session's real MLflow; moto's SageMaker server and the Databricks
stand-in over HTTP), then the deployment — and nothing deployed when the
write-back fails. Evidence is set directly (test_evidence.py collects it)."""

import pytest
from django.utils import timezone

from apps.accounts.models import Role
from apps.approvals import outcomes, policies, services
from apps.approvals.models import CheckStatus, EvidenceCheck, PromotionRequest, Status, WriteBack
from apps.audit.models import AuditEvent
from apps.notifications.models import Notification
from apps.registry.models import ModelAlias
from apps.registry.sync import Source, source_sync
from apps.runs.models import Run, RunKind

pytestmark = pytest.mark.django_db


@pytest.fixture
def approver(make_user):
    return make_user("approver", role=Role.APPROVER)


@pytest.fixture
def staging(admin, team):
    return policies.environment_save(user=admin, team=team, name="staging", approvals_required=1)


@pytest.fixture
def mlflow_model(local_mlflow, mlflow_logged, model_name, isolate_sources, make_run, team):
    """``versions`` new versions of a model in the real MLflow, trained by a run of
    the team (so the model is the team's), mirrored: (MLflow client, the model row)."""
    client, _, _, register = mlflow_logged

    def make(versions=1):
        register(model_name, tags={"atrium.run_key": make_run("succeeded").idempotency_key})
        for _ in range(versions - 1):
            register(model_name)
        isolate_sources(Source(kind="local"))
        source_sync(source=Source(kind="local"))
        return client, team.registered_models.get(name=model_name)

    return make


def approve(ds, approver, version, deployment=None):
    """Request, evidence in, one approval (staging's quorum)."""
    request = services.promotion_request(user=ds, version=version, environment="staging", deployment=deployment)
    EvidenceCheck.objects.filter(request=request).update(status=CheckStatus.PASSED, collected_at=timezone.now())
    request = services.promotion_decide(user=approver, request=request, decision="approve")
    assert request.status == Status.APPROVED
    return request


def test_mlflow_gets_the_alias_and_the_request_then_the_deployment_starts(
    mlflow_model, model_name, ds, approver, staging
):
    client, model = mlflow_model(versions=2)
    v2 = model.versions.get(version="2")
    request = approve(ds, approver, v2, deployment={"endpoint": "fraud-staging", "target": "cpu"})

    request = outcomes.promotion_apply(request_id=request.pk)
    assert client.get_model_version_by_alias(model_name, "staging").version == "2"
    tags = client.get_model_version(model_name, "2").tags
    assert tags["atrium.promotion_request"] == str(request.pk) and tags["atrium.approval_status"] == "Approved"
    assert ModelAlias.objects.get(model=model, alias="staging").version == v2
    assert request.write_back == WriteBack.APPLIED
    run = Run.objects.get(pk=request.deployment_run_id)
    assert run.kind == RunKind.ROLLOUT and run.created_by == ds and run.params["endpoint"] == "fraud-staging"
    assert run.params["candidate"]["model_version"] == "2"
    # A redelivered task (or a second worker) does nothing more.
    assert outcomes.promotion_apply(request_id=request.pk) is None
    assert Run.objects.filter(kind=RunKind.ROLLOUT).count() == 1
    actions = list(AuditEvent.objects.order_by("id").values_list("actor_name", "action"))
    assert ("approver", "model.promoted") in actions and actions[-1] == ("approver", "promotion.applied")


def test_a_failing_write_back_deploys_nothing_and_can_be_retried(
    mlflow_model, model_name, ds, approver, staging, django_capture_on_commit_callbacks
):
    client, model = mlflow_model()
    request = approve(ds, approver, model.versions.get(version="1"), deployment={"endpoint": "gone-staging"})
    client.delete_model_version(model_name, "1")  # gone upstream; the mirror does not know yet

    request = outcomes.promotion_apply(request_id=request.pk)
    assert request.status == Status.APPROVED and request.write_back == WriteBack.FAILED
    assert "Could not record the promotion" in request.write_back_error
    assert request.deployment_run_id is None and not Run.objects.filter(kind=RunKind.ROLLOUT).exists()
    assert Notification.objects.filter(user=ds, message__startswith="Approved but not applied").exists()

    queued = []
    services.enqueue_apply, original = queued.append, services.enqueue_apply
    try:
        with django_capture_on_commit_callbacks(execute=True):
            outcomes.promotion_retry(user=ds, request=request)
    finally:
        services.enqueue_apply = original
    assert queued == [request.pk]
    assert PromotionRequest.objects.get(pk=request.pk).write_back == WriteBack.NOT_YET


def test_sagemaker_gets_approved_and_the_alias_tag(
    sagemaker_connection, sm, model_name, ds, approver, staging, isolate_sources
):
    from tests.sagemaker_upstream import package

    sm.create_model_package_group(ModelPackageGroupName=model_name)
    arn = package(sm, model_name, metrics={"accuracy": 0.8})
    source = Source(kind="sagemaker", connection=sagemaker_connection)
    isolate_sources(source)
    source_sync(source=source)
    version = ds.teams.first().registered_models.get(name=model_name).versions.get(version="1")

    request = outcomes.promotion_apply(request_id=approve(ds, approver, version).pk)
    assert request.write_back == WriteBack.APPLIED
    described = sm.describe_model_package(ModelPackageName=arn)
    assert described["ModelApprovalStatus"] == "Approved"
    tags = {t["Key"]: t["Value"] for t in sm.list_tags(ResourceArn=arn)["Tags"]}
    assert "atrium:alias:staging" in tags


def test_sagemaker_gets_rejected(sagemaker_connection, sm, model_name, ds, approver, staging, isolate_sources):
    from tests.sagemaker_upstream import package

    sm.create_model_package_group(ModelPackageGroupName=model_name)
    arn = package(sm, model_name, metrics={"accuracy": 0.8})
    source = Source(kind="sagemaker", connection=sagemaker_connection)
    isolate_sources(source)
    source_sync(source=source)
    version = ds.teams.first().registered_models.get(name=model_name).versions.get(version="1")
    request = services.promotion_request(user=ds, version=version, environment="staging")
    services.promotion_decide(user=approver, request=request, decision="reject", comment="not this one")
    outcomes.promotion_record_rejection(request_id=request.pk, user_id=approver.pk)
    assert sm.describe_model_package(ModelPackageName=arn)["ModelApprovalStatus"] == "Rejected"


def test_unity_catalog_gets_the_alias(databricks_connection, logged_iris_model, model_name, ds, approver, staging):
    from apps.connections.services import connection_backend

    backend = connection_backend(databricks_connection)
    uri, run_id = logged_iris_model
    ref = backend.register_model_version(model_name, uri, run_id=run_id)
    source_sync(source=Source(kind="databricks", connection=databricks_connection))
    version = ds.teams.first().registered_models.get(name=ref.name).versions.get(version="1")

    request = outcomes.promotion_apply(request_id=approve(ds, approver, version).pk)
    assert request.write_back == WriteBack.APPLIED, request.write_back_error
    found = backend.client.registered_models.get(ref.name, include_aliases=True)
    assert {a.alias_name: str(a.version_num) for a in found.aliases or []}["staging"] == "1"


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_fifty_simultaneous_approvals_give_one_write_back_and_one_deployment(
    on_postgres, mlflow_model, model_name, ds, admin, team, monkeypatch
):
    import threading

    from django.db import connection

    client, model = mlflow_model()
    version = model.versions.get(version="1")
    policies.environment_save(user=admin, team=team, name="production", approvals_required=2)
    from django.contrib.auth.models import Group

    from apps.accounts.models import Membership, User

    approvers = User.objects.bulk_create([User(username=f"approver{n}") for n in range(50)])
    Group.objects.get(name=Role.APPROVER).user_set.add(*approvers)
    Membership.objects.bulk_create([Membership(user=user, team=team) for user in approvers])
    request = services.promotion_request(
        user=ds, version=version, environment="production", deployment={"endpoint": "race-prod"}
    )
    EvidenceCheck.objects.filter(request=request).update(status=CheckStatus.PASSED, collected_at=timezone.now())
    # The task the approval enqueues runs at once in the deciding thread; every thread
    # also runs it again, as a redelivered task would.
    monkeypatch.setattr(services, "enqueue_apply", lambda pk: outcomes.promotion_apply(request_id=pk))
    barrier = threading.Barrier(len(approvers))
    results, errors = [], []

    def decide(user):
        try:
            barrier.wait()
            try:
                results.append(services.promotion_decide(user=user, request=request, decision="approve").status)
            except services.Conflict as exc:
                results.append(exc.message)
            outcomes.promotion_apply(request_id=request.pk)
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(repr(exc))
        finally:
            connection.close()

    threads = [threading.Thread(target=decide, args=(user,)) for user in approvers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert results.count(Status.APPROVED) == 1 and results.count(Status.PENDING) == 1
    assert all("can no longer be decided" in o for o in results if o not in (Status.APPROVED, Status.PENDING))
    request.refresh_from_db()
    assert request.status == Status.APPROVED and request.decisions.count() == 2
    assert request.write_back == WriteBack.APPLIED
    assert AuditEvent.objects.filter(action="model.promoted").count() == 1
    assert client.get_model_version_by_alias(model_name, "production").version == "1"
    assert Run.objects.filter(kind=RunKind.ROLLOUT).count() == 1
    assert Notification.objects.filter(user=ds, message__startswith="Approved:").count() == 1
