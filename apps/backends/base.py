"""The one interface every backend implements, and the dataclasses it speaks.

Adapters map vendor states to ``JobState`` and vendor failures to
``BackendError`` (both in ``errors.py``, importable from here); the run
engine never sees a vendor exception.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Protocol, runtime_checkable

from .capture_feed import CapturedEvent, CaptureFeed  # noqa: F401 - importable from here
from .errors import BackendError, BackendUnavailable, JobState, NotReady  # noqa: F401 - importable from here
from .records import (  # noqa: F401 - importable from here
    ConnectionSetting,
    CostRecord,
    HourlyPrice,
    LoadedModel,
    ModelVersionDetails,
    ModelVersionInfo,
    RegisteredModelInfo,
)

# --- training -----------------------------------------------------------------


@dataclass(frozen=True)
class ModelRef:
    """A registered model version, as the backend's registry names it."""

    name: str
    version: str


@dataclass(frozen=True)
class TrainingSpec:
    """What to train. ``key`` is the idempotency key derived from the run:
    submitting the same key twice must never create a second job."""

    key: str
    model_name: str
    dataset: str
    algorithm: str
    task: str  # "classification" | "regression"
    hyperparameters: dict[str, Any] = field(default_factory=dict)
    target_column: str | None = None
    dataset_options: dict[str, Any] = field(default_factory=dict)
    instance_type: str | None = None
    tags: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Link:
    """A page about a job or a model in the backend's own console or UI."""

    label: str  # e.g. "MLflow run", "SageMaker training job", "Databricks job run"
    url: str


@dataclass(frozen=True)
class JobStatus:
    """A snapshot of a job. ``progress`` is a percentage (0–100). ``logs`` are
    the lines after ``log_cursor`` as passed to ``poll``; ``log_cursor`` is
    where the next poll starts.

    What a finished job made is typed, the same on every backend:
    ``model`` is the version it registered, named as the backend's registry
    (and so the portal's registry mirror) names it; ``metrics`` are the
    numbers it reported; ``links`` the backend's pages about it. ``outputs``
    holds the backend's own extras (job ids, ARNs, paths) that later steps of
    a template may read; it never repeats the typed fields."""

    state: JobState
    progress: float = 0.0
    message: str = ""
    logs: list[str] = field(default_factory=list)
    log_cursor: int = 0
    outputs: dict[str, Any] = field(default_factory=dict)
    model: ModelRef | None = None
    metrics: dict[str, float] = field(default_factory=dict)
    links: list[Link] = field(default_factory=list)


@dataclass(frozen=True)
class TuningSpec:
    """A hyperparameter search: ``max_trials`` trainings with hyperparameters
    drawn from ``search_space``; the best by ``objective`` is registered.
    ``search_space`` maps a hyperparameter to {"type": "int" | "float" |
    "categorical", "low", "high", "log", "values"}."""

    key: str
    model_name: str
    dataset: str
    algorithm: str
    task: str
    search_space: dict[str, dict[str, Any]]
    max_trials: int = 10
    objective: str = ""  # a metric training reports; "" for accuracy / r2
    target_column: str | None = None
    dataset_options: dict[str, Any] = field(default_factory=dict)
    instance_type: str | None = None
    tags: dict[str, str] = field(default_factory=dict)
    direction: str = ""  # "maximize" | "minimize"; "" for the objective's own (rmse, mae: minimize)


@dataclass(frozen=True)
class BatchSpec:
    """Score every row of a dataset with a registered model version."""

    key: str
    model: ModelRef
    dataset: str
    target_column: str | None = None  # dropped from the features if present
    dataset_options: dict[str, Any] = field(default_factory=dict)
    output: str = ""  # where predictions go; "" for the backend's default place
    instance_type: str | None = None
    tags: dict[str, str] = field(default_factory=dict)


# --- provisioning -----------------------------------------------------------


@dataclass(frozen=True)
class ResourceSpec:
    key: str
    kind: str  # e.g. "workspace"
    parameters: dict[str, Any] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)


# --- endpoints ----------------------------------------------------------------


@dataclass(frozen=True)
class EndpointVariant:
    name: str
    model: ModelRef
    instance_type: str
    instance_count: int = 1
    weight: int = 100


# Hardware a user may ask an endpoint for; each backend names its instance type.
DEPLOY_TARGETS = ("cpu", "gpu", "inferentia")


@dataclass(frozen=True)
class Guardrails:
    """What a rollout the cloud runs is rolled back on, by alarms the deployment creates (absolute only)."""

    max_error_rate: float = 0.05  # share of 5xx answers
    max_p95_ms: float | None = None  # p95 model latency, when set


@dataclass(frozen=True)
class EndpointSpec:
    """Timings and ``guardrails`` are for a rollout the cloud runs itself (``GuardedRollouts``);
    other backends ignore them. A timing left None is the connection's default."""

    name: str
    variants: list[EndpointVariant]
    rollout: str = "all_at_once"  # "all_at_once" | "canary" | "linear" | "blue_green"
    canary_percent: int = 10
    tags: dict[str, str] = field(default_factory=dict)
    linear_step_percent: int | None = None  # None: canary_percent
    bake_seconds: int | None = None  # each traffic step serves this long before the next
    termination_wait_seconds: int | None = None  # the old fleet kept after the last step
    guardrails: Guardrails | None = None  # None: no alarms of the deployment's own


@dataclass(frozen=True)
class EndpointStatus:
    name: str
    state: str  # "creating" | "updating" | "in_service" | "failed" | "deleting"
    weights: dict[str, int] = field(default_factory=dict)
    message: str = ""
    rolled_back: bool = False  # the cloud undid the last deployment on its own; ``message`` says why


@dataclass(frozen=True)
class EndpointSummary:
    """An endpoint as the backend lists it (the endpoint mirror reads every one).
    ``fingerprint`` changes whenever anything about the endpoint may have changed
    ("" when the backend cannot tell: the mirror then always reads its details)."""

    name: str
    state: str  # as EndpointStatus.state
    fingerprint: str = ""


@dataclass(frozen=True)
class EndpointDetails:
    """What an endpoint serves, read for the endpoint mirror: its variants with
    the model version each serves (``ModelRef.version`` "" when the backend
    cannot tell which registered version it is), their hardware as the backend
    names it, their instance count and traffic share (``weight``, percent), and
    its tags (the portal's cost tags say which team owns it)."""

    name: str
    state: str
    variants: list[EndpointVariant] = field(default_factory=list)
    tags: dict[str, str] = field(default_factory=dict)
    message: str = ""


@dataclass(frozen=True)
class Upstream:
    """Where an endpoint's invocations go over HTTP (the inference gateway posts
    the scoring request there): the URL and the headers of every request
    (auth, the variant to answer). ``sign``, when set, gives more headers for one
    request from its body (AWS Signature V4); ``unwrap`` reads the model's own
    answer out of a cloud's error. The gateway reuses an Upstream
    for at most ``ttl`` seconds, and at once asks again after a connection error."""

    url: str
    headers: dict[str, str] = field(default_factory=dict)
    sign: Callable[[bytes, dict[str, str]], dict[str, str]] | None = None
    ttl: float = 300.0
    # Where the backend's own capture keeps a caller's id for the request (SageMaker's InferenceId):
    # the gateway sends its event id there, so the cloud's copy of a request it captured is known.
    request_id_header: str = ""
    # Or the top-level member of a JSON body it keeps it in (Databricks' client_request_id).
    request_id_field: str = ""
    # From an error answer (status, body): what the model itself answered, where the cloud wraps
    # it (SageMaker's ModelError, a 424, carries the container's status), or None to pass it on.
    unwrap: Callable[[int, bytes], tuple[int, bytes] | None] | None = None


# --- capabilities -------------------------------------------------------------------
# A caller asks for the capability it needs (``require(backend, Endpoints)``)
# and gets a clear error where a backend lacks it. Every method may raise
# ``BackendError``; none of them blocks for the length of a job.


@runtime_checkable
class Checks(Protocol):
    kind: str

    def check(self) -> list[dict]:
        """Read-only checks of reachability and permissions, for "test
        connection": ``[{"check": str, "ok": bool, "message": str}]``."""
        ...


@runtime_checkable
class Jobs(Protocol):
    """Training, search, batch scoring and provisioning: submitted, then polled."""

    def submit_training(self, spec: TrainingSpec) -> str: ...
    def poll_training(self, external_id: str, *, log_cursor: int = 0) -> JobStatus: ...
    def cancel_training(self, external_id: str) -> None: ...

    # hyperparameter search and batch inference: jobs like training
    def submit_tuning(self, spec: TuningSpec) -> str: ...
    def poll_tuning(self, external_id: str, *, log_cursor: int = 0) -> JobStatus: ...
    def cancel_tuning(self, external_id: str) -> None: ...
    def submit_batch(self, spec: BatchSpec) -> str: ...
    def poll_batch(self, external_id: str, *, log_cursor: int = 0) -> JobStatus: ...
    def cancel_batch(self, external_id: str) -> None: ...

    # resources
    def provision(self, spec: ResourceSpec) -> str: ...
    def poll_provision(self, external_id: str) -> JobStatus: ...
    def teardown(self, external_id: str) -> None: ...


@runtime_checkable
class JobQueue(Protocol):
    """A backend that holds jobs in a queue of its own before starting them
    (``submit`` raises ``NotReady`` meanwhile), like the local backend's admission."""

    def withdraw_job(self, key: str) -> bool:
        """Take the job ``key`` out of the queue so that it never starts: True
        when it had not started (a later submit of ``key`` starts nothing);
        False when it has, and must be cancelled as a running job."""
        ...


@runtime_checkable
class Endpoints(Protocol):
    """Real-time endpoints: deploy, traffic, rollback, delete, invoke."""

    deploy_targets: tuple[str, ...]  # the DEPLOY_TARGETS it has hardware for

    def instance_type_for(self, target: str) -> str:
        """This backend's default instance type for a DEPLOY_TARGETS entry;
        a permanent BackendError if it has no such hardware."""
        ...

    def deploy_endpoint(self, spec: EndpointSpec) -> str: ...
    def get_endpoint(self, name: str) -> EndpointStatus: ...
    def update_traffic(self, name: str, weights: dict[str, int]) -> None: ...
    def rollback_endpoint(self, name: str) -> None: ...
    def delete_endpoint(self, name: str) -> None: ...
    def invoke(self, name: str, payload: dict[str, Any]) -> dict[str, Any]: ...

    def invocation_target(self, name: str, variant: str | None = None) -> Upstream:
        """Where the gateway posts ``name``'s scoring requests (JSON, MLflow's
        formats), answered by ``variant`` when given (else by the endpoint's own split)."""
        ...

    # the endpoint mirror (apps/deployments): every endpoint, made by the portal or not
    def list_endpoints(self) -> list[EndpointSummary]: ...
    def endpoint_details(self, name: str) -> EndpointDetails: ...


@runtime_checkable
class GuardedRollouts(Protocol):
    """Endpoints whose cloud runs a rollout itself and rolls it back on alarms the deployment
    creates (SageMaker deployment guardrails); where it cannot, the portal runs the rollout."""

    guardrails_label: str  # for people: what runs the rollout

    def guardrails_refusal(
        self,
        *,
        hardware: list[str],
        instance_count: int,
        rollout: str,
        canary_percent: int,
        linear_step_percent: int,
        bake_seconds: int,
        termination_wait_seconds: int,
    ) -> str:
        """Why the cloud cannot run this rollout on ``hardware`` (instance types or targets); "" if it can."""
        ...

    def guardrails_alarms(self, endpoint: str, guardrails: Guardrails) -> list[str]:
        """The alarms it rolls back on: those it creates from ``guardrails``, and the connection's."""
        ...


@runtime_checkable
class Registry(Protocol):
    """The model registry the backend's jobs register in."""

    # A registry whose versions have no approval status (Unity Catalog) says so with a class
    # attribute ``has_approval_status = False``: aliases say it there. Absent means it has one.

    def list_model_versions(self, model_name: str) -> list[ModelVersionInfo]: ...
    def set_alias(self, model: ModelRef, alias: str) -> None: ...
    def set_approval_status(self, model: ModelRef, status: str) -> None: ...

    def list_registered_models(self) -> list[RegisteredModelInfo]: ...
    def model_version_details(self, model: ModelRef) -> ModelVersionDetails: ...
    def delete_alias(self, model_name: str, alias: str) -> None: ...
    def set_version_tag(self, model: ModelRef, key: str, value: str) -> None: ...
    def delete_version_tag(self, model: ModelRef, key: str) -> None: ...


@runtime_checkable
class ModelLoader(Protocol):
    """Registered versions loaded into the portal's process to be scored there
    (the evidence pack re-scores, explains and times them), and what the
    backend's endpoints do with a scoring request."""

    registry_key: str  # names the registry the versions come from (a cache key; never a secret)

    def load_model(self, model: ModelRef) -> LoadedModel:
        """The version, loaded; a permanent BackendError saying why where it cannot be."""
        ...

    def score_request(self, model: LoadedModel, body: bytes, content_type: str) -> Any:
        """The predictions the backend's endpoint would answer for this request body,
        read and scored as its model server reads and scores it."""
        ...


@runtime_checkable
class Pricing(Protocol):
    def hosting_price(self, instance_type: str) -> HourlyPrice | None:
        """The price of an hour of one endpoint instance of ``instance_type``, or None if unknown."""
        ...


@runtime_checkable
class Costs(Protocol):
    def get_costs(self, *, start: date, end: date, tags: dict[str, str] | None = None) -> list[CostRecord]: ...


@dataclass(frozen=True)
class WindowSpec:
    """A window of an endpoint's traffic to profile where the cloud keeps it: [since, until),
    the columns to mask as the gateway masks them, ``key`` the idempotency key."""

    key: str
    endpoint: str
    since: datetime
    until: datetime
    sensitive: tuple[str, ...] = ()
    instance_type: str | None = None
    tags: dict[str, str] = field(default_factory=dict)


@runtime_checkable
class WindowProfiles(Protocol):
    """Endpoints whose cloud keeps their traffic where a job of Atrium's own program can
    profile it (a Databricks inference table: a job run on the cluster), so a window of any
    size is never loaded by the portal: submitted, polled like a job, then the merged
    profile read back (``DatasetProfile`` bytes, ``apps.backends.jobs.profiles``)."""

    def submit_window_profile(self, spec: WindowSpec) -> str | None:
        """The job profiling the window; None (nothing submitted) when the endpoint's traffic
        is not kept where the cloud can profile it (no inference table)."""
        ...

    def poll_window_profile(self, external_id: str, *, log_cursor: int = 0) -> JobStatus: ...

    def read_window_profile(self, status: JobStatus) -> bytes:
        """The serialized profile a succeeded job wrote."""
        ...


@runtime_checkable
class Backend(Checks, Jobs, Endpoints, Registry, Costs, Protocol):
    """A backend with every capability (all three today have them all)."""


CAPABILITY_NAMES = {
    Checks: "connection checks",
    Jobs: "jobs",
    Endpoints: "endpoints",
    Registry: "a model registry",
    Costs: "costs",
    ModelLoader: "model loading for scoring in the portal",
    Pricing: "an instance price table",
    GuardedRollouts: "rollouts of its own with rollback on alarms",
    WindowProfiles: "profiling of traffic windows where the cloud keeps them",
}


def require(backend: object, capability: type) -> Any:
    """``backend`` as ``capability``, or a permanent BackendError saying it has none."""
    if not isinstance(backend, capability):
        name = CAPABILITY_NAMES.get(capability, capability.__name__)
        raise BackendUnavailable(f"The {getattr(backend, 'kind', 'selected')} backend has no {name}.")
    return backend
