"""The approvals pages for people: who sees and decides what (another team's
request is a 404, a role that cannot decide gets a 403, the requester never
decides their own), inline decisions with htmx, bad input that makes nothing,
the inbox in a constant number of queries, user content escaped.

Rows are made with the services (environment_save, promotion_request with no
deployment, so no backend is needed). promotion_request starts an evidence run
that nothing runs here: its checks stay "pending". Tests that approve mark the
required EvidenceCheck rows passed directly (what the evidence run would do).
The evidence pack's checks are stand-ins registered by the ``pack`` fixture, so
these tests do not depend on the real checks (written elsewhere)."""

import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from apps.accounts.models import Role
from apps.approvals import evidence
from apps.approvals.models import CheckStatus, Decision, EvidenceCheck, PromotionRequest, Status, WriteBack
from apps.approvals.policies import environment_save
from apps.approvals.services import promotion_request
from apps.runs.models import RunStatus
from tests.registry.factories import make_model

pytestmark = pytest.mark.django_db

HTMX = {"HTTP_HX_REQUEST": "true"}


def _collect(context):
    return evidence.CheckResult(status=CheckStatus.PASSED, summary="stand-in")


@pytest.fixture(autouse=True)
def pack(monkeypatch):
    """Two stand-in checks in place of the registered ones: a required champion
    comparison with a threshold, and a latency check."""
    checks = {
        "champion": evidence.Check(
            key="champion",
            label="Champion comparison",
            position=10,
            fn=_collect,
            settings={"max_metric_drop": 0.01},
            help="The candidate against the environment's champion on the same held-out rows.",
        ),
        "latency": evidence.Check(
            key="latency", label="Latency", position=40, fn=_collect, settings={"max_p95_ms": 50}
        ),
    }
    monkeypatch.setattr(evidence, "CHECKS", checks)
    return checks


@pytest.fixture
def admin(make_user):
    return make_user("root", role=Role.ADMIN)


@pytest.fixture
def approver(make_user):
    return make_user("approver", role=Role.APPROVER)


@pytest.fixture
def approver2(make_user):
    return make_user("approver2", role=Role.APPROVER)


@pytest.fixture
def manager(make_user):
    return make_user("boss", role=Role.MANAGER)


@pytest.fixture
def model(team):
    return make_model(team=team, name="iris-lr", versions=3, aliases={"production": 1})


@pytest.fixture
def production(admin, team):
    return environment_save(
        user=admin,
        team=team,
        name="production",
        approvals_required=2,
        expiry_days=7,
        checks={"champion": {"required": True, "max_metric_drop": 0.01}, "latency": {"required": False}},
    )


@pytest.fixture
def staging(admin, team):
    return environment_save(user=admin, team=team, name="staging", approvals_required=1)


@pytest.fixture
def promotion(ds, model, production):
    return promotion_request(
        user=ds, version=model.versions.get(version="3"), environment="production", reason="Better recall."
    )


def as_user(client, user):
    client.force_login(user)
    return client


def pass_checks(request):
    EvidenceCheck.objects.filter(request=request).update(status=CheckStatus.PASSED, summary="fine")


# --- permissions -------------------------------------------------------------------------------


def test_anonymous_visitors_are_sent_to_log_in(client, promotion, model):
    version = model.versions.get(version="3")
    for url in (
        "/approvals/",
        "/approvals/environments/",
        f"/approvals/new/?version={version.pk}",
        f"/approvals/versions/{version.pk}/",
        promotion.get_absolute_url(),
        f"{promotion.get_absolute_url()}evidence/",
    ):
        response = client.get(url)
        assert response.status_code == 302 and response["Location"].startswith("/login/"), url
    response = client.post(f"{promotion.get_absolute_url()}decide/", {"decision": "approve"})
    assert response.status_code == 302 and response["Location"].startswith("/login/")
    assert not Decision.objects.exists()


def test_another_teams_request_is_a_404(client, make_user, other_team, promotion):
    outsider = make_user("outsider", role=Role.APPROVER, teams=[other_team])
    as_user(client, outsider)
    url = promotion.get_absolute_url()
    for path in ("", "evidence/", "outcome/"):
        assert client.get(f"{url}{path}").status_code == 404
    for path in ("decide/", "withdraw/", "retry/"):
        assert client.post(f"{url}{path}", {"decision": "approve"}, **HTMX).status_code == 404
    assert client.get(f"/approvals/versions/{promotion.model_version_id}/").status_code == 404
    page = client.get("/approvals/?show=all").content.decode()
    assert "iris-lr" not in page
    as_user(client, make_user("outsider-ds", teams=[other_team]))
    assert client.get(f"/approvals/new/?version={promotion.model_version_id}").status_code == 404
    assert client.get(f"/approvals/versions/{promotion.model_version_id}/").status_code == 404
    assert not Decision.objects.exists()


def test_a_manager_reads_but_cannot_decide(client, manager, promotion):
    as_user(client, manager)
    inbox = client.get("/approvals/")
    assert inbox.status_code == 200
    html = inbox.content.decode()
    assert "iris-lr v3" in html and 'data-testid="approve"' not in html  # the "All" tab: no decide buttons
    page = client.get(promotion.get_absolute_url()).content.decode()
    assert "Promote iris-lr v3 to production" in page
    assert 'data-testid="decide-form"' not in page
    assert "Only approvers decide promotions." in page
    assert client.post(f"{promotion.get_absolute_url()}decide/", {"decision": "approve"}).status_code == 403
    assert client.post(f"{promotion.get_absolute_url()}decide/", {"decision": "approve"}, **HTMX).status_code == 403
    assert client.get("/approvals/new/").status_code == 403  # cannot request either
    assert not Decision.objects.exists()


def test_a_data_scientist_cannot_decide(client, make_user, promotion):
    colleague = make_user("colleague")  # a data scientist of the team, not the requester
    pass_checks(promotion)
    response = as_user(client, colleague).post(
        f"{promotion.get_absolute_url()}decide/", {"decision": "approve", "comment": "lgtm"}
    )
    assert response.status_code == 403
    assert not Decision.objects.exists()


def test_the_requester_cannot_decide_their_own_request(client, admin, model, production, approver):
    """An admin holds both roles: asking makes them the requester, and the page says why they cannot decide."""
    promotion = promotion_request(user=admin, version=model.versions.get(version="2"), environment="production")
    pass_checks(promotion)
    as_user(client, admin)
    page = client.get(promotion.get_absolute_url()).content.decode()
    assert 'data-testid="decide-form"' not in page
    assert "You requested this promotion: someone else must decide it (separation of duties)." in page
    response = client.post(f"{promotion.get_absolute_url()}decide/", {"decision": "approve"}, **HTMX)
    assert response.status_code == 403
    assert "separation of duties" in response.content.decode()  # the row, with the reason in it
    assert client.post(f"{promotion.get_absolute_url()}decide/", {"decision": "approve"}).status_code == 403
    # Not in their own "waiting for me"; the approver has it.
    assert str(promotion.pk) not in client.get("/approvals/?show=to_decide").content.decode()
    assert str(promotion.pk) in as_user(client, approver).get("/approvals/").content.decode()
    assert not Decision.objects.exists()


# --- the inbox and inline decisions --------------------------------------------------------------


def test_an_approver_lands_on_waiting_for_me_and_a_data_scientist_on_their_requests(client, ds, approver, promotion):
    page = as_user(client, approver).get("/approvals/").content.decode()
    assert re.search(r'class="active" aria-current="page" data-testid="tab-to_decide"', page)
    row = re.search(rf'<tr id="request-{promotion.pk}".*?</tr>', page, re.S).group(0)
    assert "iris-lr v3" in row and "production" in row and "ds" in row
    assert "0 of 2 approvals" in row and "expires in 7 days" in row
    assert 'data-check="champion" data-status="pending"' in row and 'title="Champion comparison: Collecting' in row
    assert 'data-testid="approve"' in row and 'data-testid="reject"' in row
    page = as_user(client, ds).get("/approvals/").content.decode()
    assert 'aria-current="page" data-testid="tab-mine"' in page and "iris-lr v3" in page
    assert 'data-testid="approve"' not in page


def test_filters_narrow_the_list(client, approver, ds, model, promotion, staging):
    other = promotion_request(user=ds, version=model.versions.get(version="2"), environment="staging")
    as_user(client, approver)
    page = client.get("/approvals/?show=all&environment=staging").content.decode()
    assert f"request-{other.pk}" in page and f"request-{promotion.pk}" not in page
    partial = client.get("/approvals/?show=all&status=withdrawn", **HTMX).content.decode()
    assert "<html" not in partial and "No promotion requests match." in partial
    assert f"request-{promotion.pk}" in client.get("/approvals/?show=all&q=iris").content.decode()


def test_approve_inline_returns_the_row_with_the_outcome(client, approver, approver2, promotion):
    pass_checks(promotion)
    response = as_user(client, approver).post(
        f"{promotion.get_absolute_url()}decide/", {"decision": "approve", "comment": "looks good"}, **HTMX
    )
    assert response.status_code == 200
    row = response.content.decode()
    assert row.startswith("<tr") and f'id="request-{promotion.pk}"' in row and "<html" not in row
    assert "Your approval is recorded: 1 of 2." in row and "1 of 2 approvals" in row
    assert 'data-testid="approve"' not in row  # decided: no second chance
    assert Decision.objects.get().comment == "looks good"

    response = as_user(client, approver2).post(
        f"{promotion.get_absolute_url()}decide/", {"decision": "approve"}, **HTMX
    )
    assert response.status_code == 200
    assert "Approved: the quorum is reached." in response.content.decode()
    promotion.refresh_from_db()
    assert promotion.status == Status.APPROVED


def test_reject_without_a_comment_is_a_400_that_decides_nothing(client, approver, promotion):
    as_user(client, approver)
    response = client.post(f"{promotion.get_absolute_url()}decide/", {"decision": "reject", "comment": " "}, **HTMX)
    assert response.status_code == 400
    row = response.content.decode()
    assert "Say why you reject it: the requester reads this." in row and 'data-testid="reject"' in row
    response = client.post(f"{promotion.get_absolute_url()}decide/", {"decision": "reject"})
    assert response.status_code == 400
    assert "Say why you reject it" in response.content.decode()
    assert not Decision.objects.exists()
    promotion.refresh_from_db()
    assert promotion.status == Status.PENDING


def test_reject_inline_with_a_comment_rejects(client, approver, promotion):
    response = as_user(client, approver).post(
        f"{promotion.get_absolute_url()}decide/", {"decision": "reject", "comment": "Recall is not enough."}, **HTMX
    )
    assert response.status_code == 200
    assert "Rejected: the requester is told why." in response.content.decode()
    promotion.refresh_from_db()
    assert promotion.status == Status.REJECTED


def test_approving_before_the_required_evidence_is_in_is_refused_inline(client, approver, promotion):
    response = as_user(client, approver).post(f"{promotion.get_absolute_url()}decide/", {"decision": "approve"}, **HTMX)
    assert response.status_code == 409
    assert "still being collected: Champion comparison" in response.content.decode()
    assert not Decision.objects.exists()


def test_deciding_twice_is_a_conflict_shown_in_the_row(client, approver, promotion):
    pass_checks(promotion)
    as_user(client, approver)
    url = f"{promotion.get_absolute_url()}decide/"
    assert client.post(url, {"decision": "approve"}, **HTMX).status_code == 200
    response = client.post(url, {"decision": "approve"}, **HTMX)
    assert response.status_code == 409 and "already decided" in response.content.decode()
    assert Decision.objects.count() == 1


def test_the_inbox_runs_a_constant_number_of_queries(client, approver, ds, team, production):
    model = make_model(team=team, name="many", versions=20)
    versions = list(model.versions.order_by("number"))
    promotion_request(user=ds, version=versions[0], environment="production")
    as_user(client, approver)

    def queries(url):
        with CaptureQueriesContext(connection) as captured:
            response = client.get(url)
        assert response.status_code == 200
        return len(captured.captured_queries), response.content.decode()

    one = {url: queries(url)[0] for url in ("/approvals/", "/approvals/?show=all")}
    for version in versions[1:]:
        promotion_request(user=ds, version=version, environment="production")
    for url, count in one.items():
        many, html = queries(url)
        assert html.count('data-testid="request-row"') == 20
        assert many == count, f"{url}: {count} queries for 1 row, {many} for 20"


# --- the request page ----------------------------------------------------------------------------


def test_the_request_page_says_what_is_asked_in_words(client, approver, promotion):
    page = as_user(client, approver).get(promotion.get_absolute_url()).content.decode()
    assert "Promote iris-lr v3 to production" in page
    assert promotion.model_version.get_absolute_url() in page
    assert re.search(r'data-testid="champion"><a href="[^"]+/versions/1/">v1</a>', page)
    assert "2 approvals from team Alpha&#x27;s approvers" in page
    assert "The requester cannot approve their own request" in page and "Any rejection rejects" in page
    assert "Champion comparison (max metric drop 0.01)" in page
    assert "in 7 days" in page
    assert "None: the approval only promotes" in page
    assert 'data-testid="decide-form"' in page  # an eligible approver


def test_the_requested_deployment_reads_as_labelled_fields(client, approver, promotion):
    PromotionRequest.objects.filter(pk=promotion.pk).update(
        deployment={
            "endpoint": "iris-lr-production",
            "connection": None,
            "target": "gpu",
            "instance_count": 2,
            "rollout": {
                "strategy": "canary",
                "percent": 10,
                "bake_seconds": 300,
                "thresholds": {"max_error_rate": 0.05},
            },
        }
    )
    page = as_user(client, approver).get(promotion.get_absolute_url()).content.decode()
    table = re.search(r'<table class="kv fields" data-testid="deployment">.*?</table>', page, re.S).group(0)
    for label, value in (
        ("Endpoint", "iris-lr-production"),
        ("Hardware", "GPU"),
        ("Instances", "2"),
        ("Rollout", "canary: 10% for 5 min, then all"),
        ("Run by", "no rollout to run: the endpoint is new, so the first version takes all traffic"),
        ("Rolled back on", "error rate above 5%"),
    ):
        assert re.search(rf'<th scope="row">{label}</th><td>{re.escape(value)}', table), (label, table)


def test_the_evidence_pack_renders_any_check_and_polls_only_while_collected(client, approver, promotion):
    EvidenceCheck.objects.filter(request=promotion, key="champion").update(
        status=CheckStatus.FAILED,
        summary="Accuracy 0.91 against the champion's 0.95.",
        figures={
            "rows_scored": 150,
            "metric": "accuracy",
            "candidate": {"accuracy": 0.91, "log_loss": 0.3},
            "groups": [{"group": "a", "accuracy": 0.9, "count": 75}, {"group": "b", "accuracy": 0.92, "count": 75}],
        },
        chart={"data": [{"type": "bar", "x": ["a", "b"], "y": [0.9, 0.92]}], "layout": {"title": {"text": "By group"}}},
    )
    as_user(client, approver)
    page = client.get(promotion.get_absolute_url()).content.decode()
    check = re.search(r'<article class="check"[^>]*data-check="champion".*?</article>', page, re.S).group(0)
    assert "Failed" in check and "required" in check and "Accuracy 0.91 against" in check
    assert '<th scope="row">Rows scored</th><td>150' in check
    assert "<caption>Candidate</caption>" in check and '<th scope="row">Log loss</th><td>0.3' in check
    assert "<caption>Groups</caption>" in check and '<th scope="col">Count</th>' in check and "<td>0.92</td>" in check
    assert 'data-chart="chart-champion"' in check and 'id="chart-champion"' in check
    assert "plotly.min.js" in page and "js/charts.js" in page
    assert "Required by the policy and not passed: Champion comparison" in page
    # The evidence run is pending: the section polls; once the run has ended it stops.
    assert 'hx-get="' + promotion.get_absolute_url() + 'evidence/"' in page
    promotion.evidence_run.__class__.objects.filter(pk=promotion.evidence_run_id).update(status=RunStatus.SUCCEEDED)
    partial = client.get(f"{promotion.get_absolute_url()}evidence/").content.decode()
    assert partial.startswith('<section id="evidence"') and "hx-trigger" not in partial


def test_user_content_is_escaped(client, approver, ds, model, production):
    promotion = promotion_request(
        user=ds, version=model.versions.get(version="2"), environment="production", reason="<script>alert(1)</script>"
    )
    as_user(client, approver)
    response = client.post(
        f"{promotion.get_absolute_url()}decide/", {"decision": "reject", "comment": "<b>no</b> <script>x()</script>"}
    )
    assert response.status_code == 302
    page = client.get(promotion.get_absolute_url()).content.decode()
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page and "<script>alert(1)" not in page
    assert "&lt;b&gt;no&lt;/b&gt;" in page and "<script>x()" not in page


def test_the_requester_withdraws_and_nobody_else_can(client, ds, approver, promotion):
    page = as_user(client, ds).get(promotion.get_absolute_url()).content.decode()
    assert 'data-testid="withdraw"' in page and "data-confirm=" in page
    assert as_user(client, approver).post(f"{promotion.get_absolute_url()}withdraw/").status_code == 403
    response = as_user(client, ds).post(f"{promotion.get_absolute_url()}withdraw/")
    assert response.status_code == 302
    promotion.refresh_from_db()
    assert promotion.status == Status.WITHDRAWN
    page = client.get(promotion.get_absolute_url()).content.decode()
    assert 'data-testid="withdraw"' not in page and "Withdrawn" in page


def test_after_approval_the_write_back_and_its_retry(client, ds, promotion):
    PromotionRequest.objects.filter(pk=promotion.pk).update(
        status=Status.APPROVED, write_back=WriteBack.FAILED, write_back_error="MLflow answered 503."
    )
    as_user(client, ds)
    page = client.get(promotion.get_absolute_url()).content.decode()
    outcome = re.search(r'<section id="outcome".*?</section>', page, re.S).group(0)
    assert "Approved but not applied:</strong> MLflow answered 503." in outcome
    assert 'data-testid="retry"' in outcome and "hx-trigger" not in outcome
    assert client.post(f"{promotion.get_absolute_url()}retry/").status_code == 302
    promotion.refresh_from_db()
    assert promotion.write_back == WriteBack.NOT_YET
    outcome = client.get(f"{promotion.get_absolute_url()}outcome/").content.decode()
    assert "Writing to the registry" in outcome and 'hx-trigger="every 2s"' in outcome  # polls while applying

    PromotionRequest.objects.filter(pk=promotion.pk).update(write_back=WriteBack.APPLIED)
    outcome = client.get(f"{promotion.get_absolute_url()}outcome/").content.decode()
    assert "Written to the registry" in outcome and "@production" in outcome and "iris-lr v3" in outcome
    assert "hx-trigger" not in outcome


# --- asking for a promotion ----------------------------------------------------------------------


def test_the_version_page_offers_the_request_and_lists_promotions(client, ds, manager, promotion):
    version = promotion.model_version
    page = as_user(client, ds).get(version.get_absolute_url()).content.decode()
    assert f'href="/approvals/new/?version={version.pk}"' in page
    assert f'hx-get="/approvals/versions/{version.pk}/"' in page and f'href="/approvals/versions/{version.pk}/"' in page
    section = client.get(f"/approvals/versions/{version.pk}/", **HTMX).content.decode()
    assert section.startswith('<section id="promotions"') and promotion.get_absolute_url() in section
    assert "Waiting for decisions" in section and "only promote" in section
    assert "Promotions of iris-lr v3" in client.get(f"/approvals/versions/{version.pk}/").content.decode()
    page = as_user(client, manager).get(version.get_absolute_url()).content.decode()
    assert "/approvals/new/" not in page


def test_the_request_form_offers_the_teams_environments(client, ds, model, production, staging):
    version = model.versions.get(version="3")
    page = as_user(client, ds).get(f"/approvals/new/?version={version.pk}").content.decode()
    assert '<option value="production" selected>production</option>' in page
    assert '<option value="staging">staging</option>' in page
    for label in ("Endpoint name", "Hardware", "Instances", "Rollout", "Don&#x27;t deploy, only promote"):
        assert label in page
    assert "iris-lr-production" in page  # the endpoint's default, said
    assert "js/schema_form.js" in page and "data-show-when" in page


def test_bad_request_input_is_a_400_that_makes_nothing(client, ds, model, production):
    version = model.versions.get(version="3")
    response = as_user(client, ds).post(
        f"/approvals/new/?version={version.pk}",
        {
            "version": str(version.pk),
            "environment": "production",
            "endpoint": "bad name!",
            "target": "cpu",
            "instance_count": "0",
            "strategy": "canary",
            "max_error_rate": "5",
        },
    )
    assert response.status_code == 400
    page = response.content.decode()
    assert "Use letters, digits and &#x27;-&#x27;, starting with a letter or digit." in page
    assert "Ensure this value is greater than or equal to 1." in page
    response = client.post(
        f"/approvals/new/?version={version.pk}",
        {"version": str(version.pk), "environment": "nowhere", "promote_only": "on"},
    )
    assert response.status_code == 400 and "Select a valid choice" in response.content.decode()
    assert not PromotionRequest.objects.exists()


def test_only_promote_makes_a_request_without_a_deployment(client, ds, model, production):
    version = model.versions.get(version="3")
    response = as_user(client, ds).post(
        f"/approvals/new/?version={version.pk}",
        {"version": str(version.pk), "environment": "production", "reason": "Ready.", "promote_only": "on"},
    )
    promotion = PromotionRequest.objects.get()
    assert response.status_code == 302 and response["Location"] == promotion.get_absolute_url()
    assert promotion.deployment == {} and promotion.reason == "Ready." and promotion.requested_by == ds
    # A second request for the same version and environment is refused beside the form.
    response = client.post(
        f"/approvals/new/?version={version.pk}",
        {"version": str(version.pk), "environment": "production", "promote_only": "on"},
    )
    assert response.status_code == 409 and "already has an open request" in response.content.decode()
    assert PromotionRequest.objects.count() == 1


def test_the_deployment_asked_for_is_checked_and_kept(client, ds, model, production):
    version = model.versions.get(version="3")
    response = as_user(client, ds).post(
        f"/approvals/new/?version={version.pk}",
        {
            "version": str(version.pk),
            "environment": "production",
            "endpoint": "",
            "target": "cpu",
            "instance_count": "2",
            "strategy": "linear",
            "step_percent": "25",
            "interval_seconds": "60",
            "max_error_rate": "5",
        },
    )
    assert response.status_code == 302, response.content.decode()[-3000:]
    deployment = PromotionRequest.objects.get().deployment
    assert deployment["endpoint"] == "iris-lr-production"  # the default
    assert deployment["instance_count"] == 2 and deployment["target"] == "cpu"
    assert deployment["rollout"]["strategy"] == "linear" and deployment["rollout"]["interval_seconds"] == 60
    assert deployment["rollout"]["percent"] == 10  # not asked for (hidden): the deploy form's default


# --- environments --------------------------------------------------------------------------------


def test_environments_read_in_words_and_only_admins_change_them(client, approver, production):
    page = as_user(client, approver).get("/approvals/environments/").content.decode()
    assert 'data-environment="production"' in page and "2 approvals from team Alpha" in page
    assert "first version" in page and "Edit policy" not in page and "New environment" not in page
    url = f"/approvals/environments/{production.pk}/"
    prefix = f"env-{production.pk.hex[:8]}"
    assert client.post(url, {f"{prefix}-approvals_required": "1", f"{prefix}-expiry_days": "7"}).status_code == 403
    assert client.post("/approvals/environments/", {"new-name": "canary"}).status_code == 403
    assert production.policies.count() == 1


def test_an_admin_edits_a_policy_and_the_new_version_is_listed(client, admin, other_team, production):
    as_user(client, admin)
    page = client.get("/approvals/environments/").content.decode()
    assert "Edit policy" in page and "Champion comparison must pass" in page and "Max metric drop" in page
    prefix = f"env-{production.pk.hex[:8]}"
    response = client.post(
        f"/approvals/environments/{production.pk}/",
        {
            f"{prefix}-approvals_required": "3",
            f"{prefix}-expiry_days": "5",
            f"{prefix}-approver_teams": [str(other_team.pk)],
            f"{prefix}-check__champion__required": "on",
            f"{prefix}-check__champion__max_metric_drop": "0.02",
            f"{prefix}-check__latency__required": "on",
            f"{prefix}-check__latency__max_p95_ms": "40",
        },
    )
    assert response.status_code == 302
    policy = production.policies.order_by("-version").first()
    assert policy.version == 2 and policy.approvals_required == 3 and policy.expiry_days == 5
    assert policy.checks["latency"] == {"required": True, "max_p95_ms": 40}
    assert list(policy.approver_teams.all()) == [other_team]
    page = client.get("/approvals/environments/").content.decode()
    assert "policy v2" in page and "3 approvals from approvers of team Beta" in page
    history = re.search(r'data-testid="policy-history">.*?</ol>', page, re.S).group(0)
    assert "<strong>v2</strong> · root" in history
    assert "approvals needed 2 → 3" in history and "expiry 7 → 5 days" in history
    assert "Latency now required" in history and "Champion comparison · max metric drop 0.01 → 0.02" in history

    response = client.post(
        f"/approvals/environments/{production.pk}/",
        {f"{prefix}-approvals_required": "0", f"{prefix}-expiry_days": "500"},
    )
    assert response.status_code == 400
    assert "Ensure this value is greater than or equal to 1." in response.content.decode()
    assert production.policies.count() == 2


def test_an_admin_creates_an_environment(client, admin, team):
    as_user(client, admin)
    response = client.post(
        "/approvals/environments/",
        {"new-team": str(team.pk), "new-name": "latest", "new-approvals_required": "1", "new-expiry_days": "7"},
    )
    assert response.status_code == 400  # a reserved alias: the service says so beside the name
    assert "it becomes the registry alias" in response.content.decode()
    response = client.post(
        "/approvals/environments/",
        {"new-team": str(team.pk), "new-name": "staging", "new-approvals_required": "1", "new-expiry_days": "7"},
    )
    assert response.status_code == 302
    environment = team.environments.get()
    assert environment.name == "staging" and environment.policies.get().version == 1


# --- home ----------------------------------------------------------------------------------------


def test_home_shows_approvers_what_waits_for_them(client, approver, ds, promotion):
    page = as_user(client, approver).get("/").content.decode()
    panel = re.search(r'data-panel="approvals.waiting".*?</section>', page, re.S).group(0)
    assert 'data-testid="waiting-count">1<' in panel and "Promote iris-lr v3 to production" in panel
    assert 'data-check="champion"' in panel
    page = as_user(client, ds).get("/").content.decode()
    assert 'data-panel="approvals.waiting"' not in page
    panel = re.search(r'data-panel="approvals.mine".*?</section>', page, re.S).group(0)
    assert "Promote iris-lr v3 to production" in panel and "Waiting for decisions" in panel


def test_the_menu_leads_to_the_inbox(client, approver):
    page = as_user(client, approver).get("/approvals/").content.decode()
    assert re.search(r'<a href="/approvals/" class="active" aria-current="page">Approvals</a>', page)
