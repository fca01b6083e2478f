from django.conf import settings
from django.db import models

from apps.core.links import url_for
from apps.core.models import BaseModel


class RunStatus(models.TextChoices):
    PENDING = "pending"
    SUBMITTING = "submitting"
    RUNNING = "running"
    CANCELLING = "cancelling"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"


TERMINAL = frozenset({RunStatus.SUCCEEDED, RunStatus.FAILED, RunStatus.CANCELLED})
ACTIVE = frozenset({RunStatus.SUBMITTING, RunStatus.RUNNING, RunStatus.CANCELLING})

# The only moves a run can make (ARCHITECTURE.md, "The run engine").
TRANSITIONS: dict[str, frozenset[str]] = {
    RunStatus.PENDING: frozenset({RunStatus.SUBMITTING, RunStatus.CANCELLED, RunStatus.FAILED}),
    RunStatus.SUBMITTING: frozenset(
        {RunStatus.RUNNING, RunStatus.SUCCEEDED, RunStatus.FAILED, RunStatus.CANCELLING}  # succeeded: all reused
    ),
    RunStatus.RUNNING: frozenset({RunStatus.SUCCEEDED, RunStatus.FAILED, RunStatus.CANCELLING}),
    RunStatus.CANCELLING: frozenset({RunStatus.CANCELLED, RunStatus.FAILED, RunStatus.SUCCEEDED}),
}


class RunKind(models.TextChoices):
    TRAIN = "train", "Training"
    TUNE = "tune", "Hyperparameter search"
    BATCH = "batch", "Batch inference"
    DEPLOY = "deploy", "Deploy endpoint"
    TRAFFIC = "traffic", "Shift traffic"
    ROLLBACK = "rollback", "Roll back endpoint"
    UNDEPLOY = "undeploy", "Delete endpoint"
    PROVISION = "provision", "Provision"
    TEARDOWN = "teardown", "Tear down"
    TEMPLATE = "template", "Template"
    ROLLOUT = "rollout", "Rollout"
    EVIDENCE = "evidence", "Evidence collection"
    DRIFT = "drift", "Drift report"


# Kinds that are plans of several steps, made by the catalogue or a feature app, never by POST /runs/.
PLAN_KINDS = frozenset({RunKind.TEMPLATE, RunKind.ROLLOUT, RunKind.EVIDENCE, RunKind.DRIFT})

# Kinds whose backend work can be stopped midway (the others are short).
CANCELLABLE_KINDS = frozenset({RunKind.TRAIN, RunKind.TUNE, RunKind.BATCH, RunKind.TEMPLATE})


class Run(BaseModel):
    team = models.ForeignKey("accounts.Team", on_delete=models.PROTECT, related_name="runs")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="runs")
    kind = models.CharField(max_length=30, choices=RunKind.choices)
    backend = models.CharField(max_length=30)
    connection = models.ForeignKey(
        "connections.Connection", null=True, blank=True, on_delete=models.PROTECT, related_name="runs"
    )
    name = models.CharField(max_length=200, blank=True)
    params = models.JSONField(default=dict)
    status = models.CharField(max_length=20, choices=RunStatus.choices, default=RunStatus.PENDING)
    status_message = models.TextField(blank=True)
    progress = models.FloatField(default=0.0)
    attempts = models.PositiveIntegerField(default=0)
    idempotency_key = models.CharField(max_length=64, unique=True)
    external_id = models.CharField(max_length=500, blank=True)  # a one-step run's job, as its backend names it
    outputs = models.JSONField(default=dict, blank=True)
    next_poll_at = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    # Template runs: the exact template version used, and the run this one retries.
    template_version = models.ForeignKey(
        "catalog.TemplateVersion", null=True, blank=True, on_delete=models.PROTECT, related_name="runs"
    )
    retry_of = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL, related_name="retries")
    # A run or one of its steps ended and what follows (notify, link the model
    # version...) has not all been done yet: see apps/runs/effects.py.
    effects_pending = models.BooleanField(default=False)

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["team", "-created_at"]),
            models.Index(fields=["status", "next_poll_at"]),
            models.Index(fields=["created_by", "status"]),
            models.Index(
                fields=["effects_pending", "updated_at"],
                condition=models.Q(effects_pending=True),
                name="run_effects_pending",
            ),
        ]

    def __str__(self):
        return self.name or f"{self.get_kind_display()} {str(self.pk)[:8]}"

    @property
    def is_template(self) -> bool:
        return self.kind == RunKind.TEMPLATE

    def get_absolute_url(self):
        return url_for("runs:detail", self.pk)

    @property
    def is_terminal(self) -> bool:
        return self.status in TERMINAL

    @property
    def can_cancel(self) -> bool:
        if self.status == RunStatus.PENDING:
            return True
        return self.status in {RunStatus.SUBMITTING, RunStatus.RUNNING} and self.kind in CANCELLABLE_KINDS

    @property
    def duration(self):
        if self.started_at is None:
            return None
        return (self.finished_at or self.updated_at) - self.started_at


class StepStatus(models.TextChoices):
    PENDING = "pending"
    SUBMITTING = "submitting"
    RUNNING = "running"
    WAITING = "waiting"  # a gate: waits for a person to decide
    CANCELLING = "cancelling"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"


STEP_TERMINAL = frozenset({StepStatus.SUCCEEDED, StepStatus.FAILED, StepStatus.CANCELLED})
STEP_ACTIVE = frozenset({StepStatus.SUBMITTING, StepStatus.RUNNING, StepStatus.WAITING, StepStatus.CANCELLING})

STEP_TRANSITIONS: dict[str, frozenset[str]] = {
    StepStatus.PENDING: frozenset(
        {StepStatus.SUBMITTING, StepStatus.WAITING, StepStatus.CANCELLED, StepStatus.FAILED, StepStatus.SUCCEEDED}
    ),
    # cancelled: while it waited for its turn in the backend's queue, nothing started
    StepStatus.SUBMITTING: frozenset(
        {StepStatus.RUNNING, StepStatus.FAILED, StepStatus.CANCELLING, StepStatus.CANCELLED}
    ),
    StepStatus.RUNNING: frozenset({StepStatus.SUCCEEDED, StepStatus.FAILED, StepStatus.CANCELLING}),
    StepStatus.WAITING: frozenset({StepStatus.SUCCEEDED, StepStatus.FAILED, StepStatus.CANCELLED}),
    StepStatus.CANCELLING: frozenset({StepStatus.CANCELLED, StepStatus.FAILED, StepStatus.SUCCEEDED}),
}


class RunStep(BaseModel):
    """One step of a run's plan: a backend operation (or a gate) whose inputs
    were resolved from the run's parameters and earlier steps' outputs. A
    single-kind run (a training, a deploy...) is a plan of one step whose
    idempotency key is the run's own."""

    APPROVAL = "approval"  # the gate action: no backend, a person decides

    run = models.ForeignKey(Run, on_delete=models.CASCADE, related_name="steps")
    position = models.PositiveSmallIntegerField()
    key = models.SlugField(max_length=50)  # the step's id in the template
    name = models.CharField(max_length=200)
    action = models.CharField(max_length=30)  # a RunKind of a single operation, or APPROVAL
    inputs = models.JSONField(default=dict)  # as the template wrote them, with ${{ }} references
    params = models.JSONField(default=dict, blank=True)  # resolved when the step starts
    status = models.CharField(max_length=20, choices=StepStatus.choices, default=StepStatus.PENDING)
    status_message = models.TextField(blank=True)
    progress = models.FloatField(default=0.0)
    attempts = models.PositiveIntegerField(default=0)
    idempotency_key = models.CharField(max_length=64, unique=True)
    external_id = models.CharField(max_length=500, blank=True)
    log_cursor = models.PositiveIntegerField(default=0)
    outputs = models.JSONField(default=dict, blank=True)  # the backend's extras (job ids, paths...)
    # What the step's job made, typed the same on every backend (JobStatus).
    model_name = models.CharField(max_length=500, blank=True)  # as the backend's registry names it
    model_version = models.CharField(max_length=50, blank=True)
    metrics = models.JSONField(default=dict, blank=True)
    links = models.JSONField(default=list, blank=True)  # [{"label", "url"}]: the backend's own pages
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    # A retry carries the steps that had succeeded over, without redoing them.
    reused_from = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    decided_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["run", "position"]
        constraints = [models.UniqueConstraint(fields=["run", "position"], name="runstep_unique_position")]

    def __str__(self):
        return f"{self.position + 1}. {self.name}"

    @property
    def is_terminal(self) -> bool:
        return self.status in STEP_TERMINAL

    @property
    def is_gate(self) -> bool:
        return self.action == self.APPROVAL

    @property
    def is_active(self) -> bool:
        return self.status in STEP_ACTIVE

    @property
    def results(self) -> dict:
        """What later steps' ``${{ steps.<id>.outputs.<name> }}`` read: the
        backend's extras with the typed fields (model_name, model_version, metrics)."""
        typed = {"model_name": self.model_name, "model_version": self.model_version} if self.model_name else {}
        return {**self.outputs, **typed, **({"metrics": self.metrics} if self.metrics else {})}


class RunEvent(models.Model):
    """Append-only history: every transition and every log line."""

    class Kind(models.TextChoices):
        TRANSITION = "transition"
        LOG = "log"
        ERROR = "error"

    id = models.BigAutoField(primary_key=True)  # ordered, cheap to page through
    run = models.ForeignKey(Run, on_delete=models.CASCADE, related_name="events")
    step = models.ForeignKey(RunStep, null=True, blank=True, on_delete=models.CASCADE, related_name="events")
    created_at = models.DateTimeField(auto_now_add=True)
    kind = models.CharField(max_length=20, choices=Kind.choices)
    from_status = models.CharField(max_length=20, blank=True)
    to_status = models.CharField(max_length=20, blank=True)
    message = models.TextField(blank=True)

    class Meta:
        ordering = ["id"]
        indexes = [models.Index(fields=["run", "id"])]

    def __str__(self):
        return f"{self.kind}: {self.message[:60]}"


class RunEffect(models.Model):
    """What followed a run or a step ending (a notification, a linked model
    version...), done once: the row is written in the effect's own transaction,
    so a redelivered task finds it and does nothing."""

    id = models.BigAutoField(primary_key=True)
    run = models.ForeignKey(Run, on_delete=models.CASCADE, related_name="effects")
    key = models.CharField(max_length=150, unique=True)  # "<effect>:<run or step id>"
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self):
        return self.key
