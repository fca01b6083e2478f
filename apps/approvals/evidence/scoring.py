"""What the scoring checks share: the held-out data a version was trained
against, rebuilt exactly as training built it, and the versions loaded into
this process.

Held-out data: the version's training request (the portal run that trained
it, else the params and dataset its registry recorded) is loaded with the
training code's own ``load_dataset`` and split with its ``split`` (the same
fifth, seed 42, stratified for classes), so a re-score is on the rows training
held out. At most ``MAX_ROWS`` of them are scored (a fixed sample, the same
rows for every model); the figures say so.

Loaded models are kept per process in a small LRU keyed by the registry they
come from, the model and the version: every check of one request scores the
same two models, and a registered version never changes.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.conf import settings

from apps.backends.base import LoadedModel, ModelLoader, require
from apps.backends.jobs.training import BUILTIN_DATASETS, SYNTHETIC_DATASETS, load_dataset, split
from apps.backends.training import (
    OBJECTIVES,
    TASKS,
    TrainingRequest,
    is_file_dataset,
    resolve_data_path,
)

MAX_ROWS = 5000  # held-out rows scored at most
TRAIN_ROWS_KEPT = 1000  # training rows kept (a sample), for explainers' backgrounds
MODELS_KEPT = 8  # loaded versions kept per process
SPLITS_KEPT = 4  # held-out splits kept per process


class EvidenceUnavailable(ValueError):
    """What a check needs cannot be had (the data is gone, the request is unknown): the
    check is recorded as not collected, with this message."""


@dataclass(frozen=True)
class HeldOut:
    request: TrainingRequest
    X: Any  # the held-out rows scored (a DataFrame; at most MAX_ROWS)
    y: Any
    X_train: Any  # training rows (a sample of at most TRAIN_ROWS_KEPT): explainers' background
    total_rows: int  # held-out rows before sampling

    @property
    def task(self) -> str:
        return self.request.task

    @property
    def description(self) -> str:
        sampled = f", a fixed sample of {len(self.X):,} of {self.total_rows:,}" if self.sampled else ""
        return f"{self.request.dataset}: the 20% training held out (seed 42){sampled}, {len(self.X):,} rows"

    @property
    def sampled(self) -> bool:
        return len(self.X) < self.total_rows


# --- the training request and its held-out data -----------------------------------------------


def registered_by(step, version) -> bool:
    """Whether the run step ``step`` registered ``version``."""
    return step.model_version == version.version and step.model_name in ("", version.model.name)


def training_params(version) -> dict:
    """What the version was trained with: the portal run's step that registered it (or the
    run's own params), else what the registry recorded of it."""
    run = version.run
    if run is not None:
        for step in run.steps.all():
            if registered_by(step, version) and (step.params or {}).get("dataset"):
                return dict(step.params)
        if (run.params or {}).get("dataset"):
            return dict(run.params)
    params = dict(version.params or {})
    if version.dataset and not params.get("dataset"):
        params["dataset"] = version.dataset
    return params


def training_request(version) -> TrainingRequest:
    params = training_params(version)
    dataset = params.get("dataset") or ""
    if not dataset:
        raise EvidenceUnavailable(f"{version} has no training dataset on record: its held-out data cannot be rebuilt.")
    known = BUILTIN_DATASETS.get(dataset) or SYNTHETIC_DATASETS.get(dataset)
    task = known[0] if known else params.get("task")
    if task not in TASKS:
        raise EvidenceUnavailable(f"{version} was trained on {dataset} with no task on record (classification?).")
    options = params.get("dataset_options") or {}
    if isinstance(options, str):  # as a registry records params: text
        options = json.loads(options or "{}")
    return TrainingRequest(
        dataset=dataset,
        algorithm=str(params.get("algorithm") or ""),
        task=task,
        hyperparameters={},
        model_name=version.model.name,
        target_column=params.get("target_column") or None,
        dataset_options=options,
    )


_splits: OrderedDict = OrderedDict()
_models: OrderedDict = OrderedDict()
_lock = threading.Lock()


def held_out(version) -> HeldOut:
    """The held-out rows of ``version``'s training data (cached per process; a file's
    modification time is part of the key, so a changed file is read again)."""
    request = training_request(version)
    data_root = Path(settings.DATA_ROOT)
    stamp = None
    if is_file_dataset(request.dataset):
        path = resolve_data_path(request.dataset, data_root)
        if not path.is_file():
            raise EvidenceUnavailable(f"The training data {request.dataset} is gone: no held-out rows to score.")
        stat = path.stat()
        stamp = (stat.st_mtime_ns, stat.st_size)
    key = (request.dataset, request.task, request.target_column, json.dumps(request.dataset_options, sort_keys=True))
    with _lock:
        found = _splits.get(key)
        if found is not None and found[0] == stamp:
            _splits.move_to_end(key)
            return found[1]
    X, y = load_dataset(request, data_root=data_root)
    X_train, X_test, _, y_test = split(X, y, request.task)
    total = len(X_test)
    if total > MAX_ROWS:
        X_test = X_test.sample(MAX_ROWS, random_state=0)
        y_test = y_test.loc[X_test.index]
    if len(X_train) > TRAIN_ROWS_KEPT:
        X_train = X_train.sample(TRAIN_ROWS_KEPT, random_state=0)
    data = HeldOut(request=request, X=X_test, y=y_test, X_train=X_train, total_rows=total)
    with _lock:
        _splits[key] = (stamp, data)
        while len(_splits) > SPLITS_KEPT:
            _splits.popitem(last=False)
    return data


# --- models -------------------------------------------------------------------------------------


def loaded_model(backend, version) -> LoadedModel:
    """``version`` loaded from ``backend`` (a ModelLoader), kept for the next check."""
    loader = require(backend, ModelLoader)
    key = (loader.registry_key, version.model.name, str(version.version))
    with _lock:
        if key in _models:
            _models.move_to_end(key)
            return _models[key]
    model = loader.load_model(version.ref)
    with _lock:
        _models[key] = model
        while len(_models) > MODELS_KEPT:
            _models.popitem(last=False)
    return model


def features_of(model: LoadedModel, X, *, who: str):
    """The columns of ``X`` the model takes, in its order; EvidenceUnavailable naming those missing."""
    if not model.features:
        return X
    missing = [name for name in model.features if name not in X.columns]
    if missing:
        raise EvidenceUnavailable(
            f"{who} takes {', '.join(missing[:5])}{' …' if len(missing) > 5 else ''}, "
            "which the held-out data does not have."
        )
    return X[list(model.features)]


def rows_digest(X) -> str:
    """sha256 of the rows fed to a model: index, column names and values (columns in name
    order), so two models given the same rows have the same digest."""
    import pandas as pd

    columns = sorted(X.columns, key=str)
    digest = hashlib.sha256(json.dumps([str(c) for c in columns]).encode())
    digest.update(pd.util.hash_pandas_object(X[columns], index=True).to_numpy().tobytes())
    return digest.hexdigest()


def primary_metric(version, task: str, available) -> str:
    """The registered model's primary metric when scoring reports it, else the task's first objective."""
    wanted = version.model.primary_metric
    return wanted if wanted in available else OBJECTIVES[task][0]
