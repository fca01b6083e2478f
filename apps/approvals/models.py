"""Promotions of model versions to a team's environments, decided by a quorum
of approvers under a versioned policy, with an evidence pack in front of them.

``Environment``     a team's staging / production / ...; its policy is the newest ``Policy`` row
``Policy``          one version of an environment's rules: never edited, a change adds a version
``PromotionRequest``  a version asked into an environment, with the deployment it should get
``Decision``        one approver's approve / reject of one request (one each)
``EvidenceCheck``   one check of the request's evidence pack (filled by the evidence run)
"""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.urls import reverse

from apps.core.models import BaseModel


class Environment(BaseModel):
    team = models.ForeignKey("accounts.Team", on_delete=models.CASCADE, related_name="environments")
    name = models.CharField(max_length=50)  # also the registry alias a promotion sets
    description = models.CharField(max_length=300, blank=True)

    class Meta:
        ordering = ["team", "name"]
        constraints = [models.UniqueConstraint(fields=["team", "name"], name="approvals_environment_unique")]

    def __str__(self):
        return self.name


class Policy(models.Model):
    """The rules a request is judged under. Rows are never changed: an edit
    makes the next version, and a request keeps the version it was made under."""

    id = models.BigAutoField(primary_key=True)
    environment = models.ForeignKey(Environment, on_delete=models.CASCADE, related_name="policies")
    version = models.PositiveIntegerField()
    approvals_required = models.PositiveSmallIntegerField(default=1)  # the quorum
    # Who may approve: the approver role, and a member of one of these teams
    # (none named: a member of the request's team).
    approver_teams = models.ManyToManyField("accounts.Team", blank=True, related_name="+")
    expiry_days = models.PositiveSmallIntegerField(default=7)
    # {check key: {"required": bool, <threshold>: value}}: see apps.approvals.evidence.CHECKS
    checks = models.JSONField(default=dict, blank=True)
    sensitive_column = models.CharField(max_length=200, blank=True)  # for the bias check
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["environment", "-version"]
        constraints = [models.UniqueConstraint(fields=["environment", "version"], name="approvals_policy_unique")]

    def __str__(self):
        return f"{self.environment} policy v{self.version}"


class Status(models.TextChoices):
    PENDING = "pending", "Waiting for decisions"
    APPROVED = "approved", "Approved"
    REJECTED = "rejected", "Rejected"
    WITHDRAWN = "withdrawn", "Withdrawn"
    EXPIRED = "expired", "Expired"


class WriteBack(models.TextChoices):
    NOT_YET = "", "Not yet"
    APPLYING = "applying", "Writing to the registry"
    APPLIED = "applied", "Written to the registry"
    FAILED = "failed", "Approved but not applied"


class PromotionRequest(BaseModel):
    team = models.ForeignKey("accounts.Team", on_delete=models.CASCADE, related_name="promotion_requests")
    environment = models.ForeignKey(Environment, on_delete=models.PROTECT, related_name="requests")
    policy = models.ForeignKey(Policy, on_delete=models.PROTECT, related_name="requests")
    # The version to promote; none for a template's approval gate (it releases a run instead).
    model_version = models.ForeignKey(
        "registry.ModelVersion", null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    # The version holding the environment's alias when the request was made, if any.
    champion = models.ForeignKey(
        "registry.ModelVersion", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    reason = models.TextField(blank=True)
    # The deployment it should get: endpoint, connection id, target / instance_type,
    # instance_count, rollout (deployments.services.deployment_start's arguments).
    deployment = models.JSONField(default=dict, blank=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    expires_at = models.DateTimeField()
    decided_at = models.DateTimeField(null=True, blank=True)
    reminded_at = models.DateTimeField(null=True, blank=True)  # the day-before-expiry reminder went out
    write_back = models.CharField(max_length=10, choices=WriteBack.choices, default=WriteBack.NOT_YET, blank=True)
    write_back_error = models.TextField(blank=True)
    evidence_run = models.ForeignKey("runs.Run", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    deployment_run = models.ForeignKey("runs.Run", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    gate_step = models.ForeignKey(  # a template's approval gate this request releases
        "runs.RunStep", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["-created_at"]
        permissions = [("decide_promotionrequest", "Can approve or reject promotion requests")]
        constraints = [
            models.UniqueConstraint(
                fields=["model_version", "environment"],
                condition=Q(status="pending"),
                name="approvals_one_open_request",
            )
        ]
        indexes = [
            models.Index(fields=["team", "status", "-created_at"]),
            models.Index(fields=["status", "expires_at"]),
        ]

    def __str__(self):
        if self.model_version_id is None:
            return f"Release a run's gate ({self.environment})"
        return f"Promote {self.model_version} to {self.environment}"

    def get_absolute_url(self):
        return reverse("approvals:request", args=[self.pk])

    @property
    def is_open(self) -> bool:
        return self.status == Status.PENDING


class Decision(models.Model):
    class Verdict(models.TextChoices):
        APPROVE = "approve", "Approved"
        REJECT = "reject", "Rejected"

    id = models.BigAutoField(primary_key=True)
    request = models.ForeignKey(PromotionRequest, on_delete=models.CASCADE, related_name="decisions")
    approver = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    verdict = models.CharField(max_length=10, choices=Verdict.choices)
    comment = models.TextField(blank=True)
    at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["at", "id"]
        constraints = [models.UniqueConstraint(fields=["request", "approver"], name="approvals_one_decision_each")]

    def __str__(self):
        return f"{self.approver} {self.verdict}"


class CheckStatus(models.TextChoices):
    PENDING = "pending", "Collecting"
    PASSED = "passed", "Passed"
    WARNING = "warning", "Warning"
    FAILED = "failed", "Failed"
    NOT_APPLICABLE = "not_applicable", "Not applicable"
    ERROR = "error", "Could not be collected"


class EvidenceCheck(models.Model):
    """One check of a request's evidence: its verdict, a sentence, the figures
    behind it (labelled, for the page) and an optional chart."""

    id = models.BigAutoField(primary_key=True)
    request = models.ForeignKey(PromotionRequest, on_delete=models.CASCADE, related_name="checks")
    key = models.CharField(max_length=50)
    label = models.CharField(max_length=100)
    position = models.PositiveSmallIntegerField(default=0)
    required = models.BooleanField(default=False)  # the policy requires it to pass before approval
    status = models.CharField(max_length=20, choices=CheckStatus.choices, default=CheckStatus.PENDING)
    summary = models.TextField(blank=True)
    figures = models.JSONField(default=dict, blank=True)
    chart = models.JSONField(null=True, blank=True)  # a Plotly figure, when the check has one
    collected_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["request", "position"]
        constraints = [models.UniqueConstraint(fields=["request", "key"], name="approvals_check_unique")]

    def __str__(self):
        return f"{self.label}: {self.status}"
