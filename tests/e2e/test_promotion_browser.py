"""A promotion to production, as its people do it, in a real browser (Debian's
chromium) against the live server, a real Celery worker (the test is its
beat) and a real MLflow: ds asks from the version page, the evidence is
collected, approver and approver2 approve in their inbox, the alias is set in
MLflow, the model is deployed on a local endpoint and answers. Nothing is mocked."""

import pytest

from apps.accounts.models import Role
from tests.conftest import wait_for_run, wait_until
from tests.e2e.test_browser import browser, log_in  # noqa: F401 - the browser fixture

pytestmark = [pytest.mark.browser, pytest.mark.worker, pytest.mark.django_db(transaction=True)]

ENDPOINT = "e2e-iris-production"


def test_request_two_approvals_then_deployed_and_answering(
    browser,  # noqa: F811
    live_server,
    celery_worker,
    mlflow_server,
    ds,
    api,
    team,
    make_user,
    settings,
):
    from mlflow import MlflowClient
    from playwright.sync_api import expect

    from apps.approvals.models import PromotionRequest
    from apps.approvals.policies import environment_save
    from apps.audit.models import AuditEvent
    from apps.backends.registry import get_backend
    from apps.registry.models import ModelVersion
    from apps.runs.models import Run

    settings.MLFLOW_TRACKING_URI = mlflow_server
    environment_save(
        user=make_user("boss", role=Role.ADMIN),
        team=team,
        name="production",
        approvals_required=2,
        checks={"champion": {"required": True, "max_drop": 0.01}, "lineage": {"required": True}},
    )
    make_user("approver", role=Role.APPROVER)
    make_user("approver2", role=Role.APPROVER)
    params = {"dataset": "iris", "algorithm": "logistic_regression", "model_name": "e2e-iris"}
    trained = api.post("/api/v1/runs/", {"kind": "train", "params": params}, format="json")
    assert trained.status_code == 201, trained.content
    run = wait_for_run(Run.objects.get(pk=trained.json()["id"]), {"succeeded", "failed"})
    assert run.status == "succeeded", run.status_message
    wait_until(lambda: ModelVersion.objects.filter(run=run).exists(), 30, message="the version in Models")
    version = ModelVersion.objects.get(run=run)

    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.set_default_timeout(20_000)
    page = context.new_page()
    errors = []
    page.on("console", lambda message: message.type == "error" and errors.append(message.text))
    try:
        # ds asks from the version page.
        log_in(page, live_server.url, "ds")
        page.goto(f"{live_server.url}{version.get_absolute_url()}")
        page.get_by_test_id("request-promotion").click()
        page.get_by_label("Environment").select_option("production")
        page.get_by_label("Why promote it?").fill("First model for production")
        page.get_by_label("Endpoint name").fill(ENDPOINT)
        page.get_by_label("Rollout").select_option("all_at_once")
        page.get_by_role("button", name="Request promotion").click()
        page.wait_for_url(f"{live_server.url}/approvals/*/")
        request = PromotionRequest.objects.get(model_version=version)
        # The evidence fills in on the page, polled while its run goes on.
        expect(page.get_by_test_id("request-status")).to_have_text("Waiting for decisions")
        wait_until(
            lambda: not request.checks.filter(status="pending").exists(), 120, message="the evidence to be collected"
        )
        assert dict(request.checks.values_list("key", "status"))["champion"] == "passed"
        context.clear_cookies()

        # approver, then approver2, approve inline in their inbox.
        for approver, count in (("approver", "1 of 2 approvals"), ("approver2", "2 of 2 approvals")):
            log_in(page, live_server.url, approver)
            page.goto(f"{live_server.url}/approvals/")
            row = page.locator(f"[data-request='{request.pk}']")
            row.get_by_test_id("approve").click()
            expect(page.locator(f"[data-request='{request.pk}']").get_by_test_id("approvals-count")).to_have_text(count)
            context.clear_cookies()

        # ds follows the deployment on the request page until the endpoint serves.
        log_in(page, live_server.url, "ds")
        page.goto(f"{live_server.url}{request.get_absolute_url()}")
        expect(page.get_by_test_id("request-status")).to_have_text("Approved")
        wait_until(lambda: PromotionRequest.objects.get(pk=request.pk).deployment_run_id, 60, message="deployment")
        deployment = wait_for_run(PromotionRequest.objects.get(pk=request.pk).deployment_run, {"succeeded", "failed"})
        assert deployment.status == "succeeded", deployment.status_message
        expect(page.get_by_test_id("deployment-status")).to_have_text("Succeeded", timeout=30_000)
        assert page.get_by_test_id("write-back").inner_text().startswith("Written to the registry")
        assert errors == []

        answer = get_backend("local").invoke(
            ENDPOINT, {"dataframe_split": {"columns": version_columns(), "data": [[5.1, 3.5, 1.4, 0.2]]}}
        )
        assert answer["predictions"] == [0]
        assert MlflowClient(mlflow_server).get_model_version_by_alias("e2e-iris", "production").version == "1"
        story = set(AuditEvent.objects.filter(target_id=str(request.pk)).values_list("actor_name", "action"))
        assert {("ds", "promotion.requested"), ("approver", "promotion.approved")} <= story
        assert ("approver2", "promotion.applied") in story
    finally:
        context.close()
        get_backend("local").delete_endpoint(ENDPOINT)


def version_columns() -> list[str]:
    return ["sepal length (cm)", "sepal width (cm)", "petal length (cm)", "petal width (cm)"]
