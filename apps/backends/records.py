"""Records the backends return of their registries, the models they load, their prices,
costs and connection settings (importable from ``base``, with the capabilities that use them)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any

# --- registry -----------------------------------------------------------------


@dataclass(frozen=True)
class ModelVersionInfo:
    name: str
    version: str
    source_run_id: str = ""
    aliases: list[str] = field(default_factory=list)
    approval_status: str = ""
    tags: dict[str, str] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)
    artifact_uri: str = ""
    created_at: float | None = None  # epoch seconds


# registry mirror (apps/registry): listing models and the details of one version


@dataclass(frozen=True)
class RegisteredModelInfo:
    """A registered model as its registry lists it. ``fingerprint`` changes
    whenever anything about the model or its versions may have changed ("" when
    the backend cannot tell: the mirror then always reads its versions)."""

    name: str
    description: str = ""
    tags: dict[str, str] = field(default_factory=dict)
    updated_at: float | None = None  # epoch seconds
    fingerprint: str = ""


@dataclass(frozen=True)
class ModelVersionDetails:
    """What a version's list entry does not carry: the training run's params,
    the input schema ([{"name", "type"}]), the dataset, the stage, who
    registered it. ``tags`` is set only by backends whose version list has none."""

    params: dict[str, str] = field(default_factory=dict)
    input_schema: list[dict[str, Any]] = field(default_factory=list)
    dataset: str = ""
    stage: str = ""
    created_by: str = ""
    description: str = ""
    tags: dict[str, str] | None = None


# --- models loaded into this process (the evidence pack scores them) ------------------


@dataclass(frozen=True)
class LoadedModel:
    """A registered version loaded into this process (``ModelLoader.load_model``).

    ``estimator`` is the fitted scikit-learn estimator: ``predict`` (and
    ``predict_proba`` where it has one) on a DataFrame of ``features``, in that
    order. ``served`` is what the backend's model server predicts with when it
    is not the estimator itself (an MLflow pyfunc, which checks a request
    against the model's input schema first); ``ModelLoader.score_request``
    uses it."""

    estimator: Any
    features: tuple[str, ...] = ()  # its input columns ((): not recorded)
    served: Any = None


@dataclass(frozen=True)
class HourlyPrice:
    """What an hour of one instance costs, and where the figure comes from (for people)."""

    amount: float
    currency: str
    source: str


# --- costs ----------------------------------------------------------------------


@dataclass(frozen=True)
class CostRecord:
    day: date
    amount: float
    currency: str
    tags: dict[str, str] = field(default_factory=dict)
    service: str = ""
    estimate: bool = False  # the cloud may still change it (Cost Explorer's "Estimated")


# --- connection settings ----------------------------------------------------------


@dataclass(frozen=True)
class ConnectionSetting:
    """One setting of a backend's connection, declared once by the backend:
    the connection form, its validation and the docs are built from these."""

    name: str
    label: str
    required: bool = False
    secret: bool = False  # stored encrypted, never shown back
    help: str = ""
    default: str = ""  # what an empty value means, for people ("" when none)
