"""Where a drift report's two sides come from, checked at the door and profiled in a task.

A side is a dataset under the data root (``"data/train.parquet"``, CSV or Parquet) or a
window of an endpoint's captured traffic (``{"endpoint": "churn", "start": "...",
"end": "..."}``, or the string ``"endpoint:churn:<start>/<end>"``). ``side_parse``
checks a side (a path that leaves the data root is refused) and is cheap; the
``*_profile`` functions read the data, streamed, and run in workers only.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from django.conf import settings
from django.core.exceptions import ValidationError
from django.utils.dateparse import parse_date, parse_datetime

from apps.approvals.evidence.scoring import EvidenceUnavailable, training_request
from apps.backends.jobs.capture_rows import rows_table
from apps.backends.jobs.profiles import DatasetProfile, profile_frame, profile_merge, profile_parquet
from apps.backends.jobs.training import load_dataset
from apps.deployments import selectors as endpoint_selectors
from apps.gateway import selectors as gateway_selectors
from apps.registry import selectors as registry_selectors

DATA_SUFFIXES = (".parquet", ".csv")
MAX_WINDOW = timedelta(days=93)
CSV_BLOCK = 16 << 20  # CSV read 16 MB at a time


class SideError(ValueError):
    """A side that cannot be used, in words for the person who gave it."""


@dataclass(frozen=True)
class Side:
    kind: str  # "dataset" or "window"
    dataset: str = ""  # relative to the data root
    endpoint: str = ""
    start: datetime | None = None
    end: datetime | None = None

    def as_json(self) -> dict:
        if self.kind == "dataset":
            return {"dataset": self.dataset}
        return {"endpoint": self.endpoint, "start": self.start.isoformat(), "end": self.end.isoformat()}

    @property
    def label(self) -> str:
        if self.kind == "dataset":
            return self.dataset
        return f"{self.endpoint} traffic {self.start:%Y-%m-%d %H:%M} to {self.end:%Y-%m-%d %H:%M} UTC"


def data_path(path: str) -> Path:
    """``path`` inside the data root (relative, or absolute below it); SideError otherwise."""
    if not isinstance(path, str) or not path.strip() or "\x00" in path:
        raise SideError("A dataset path under the data root.")
    root = Path(settings.DATA_ROOT).resolve()
    resolved = (root / path.strip()).resolve()
    if not resolved.is_relative_to(root):
        raise SideError("The path leaves the data root: datasets must be inside it.")
    return resolved


def dataset_check(path: str) -> str:
    """The path, relative to the data root, of an existing CSV or Parquet file there."""
    resolved = data_path(path)
    if resolved.suffix.lower() not in DATA_SUFFIXES:
        raise SideError("A .parquet or .csv file.")
    if not resolved.is_file():
        raise SideError(f"No file {path.strip()} under the data root.")
    return str(resolved.relative_to(Path(settings.DATA_ROOT).resolve()))


def _moment(value, name: str) -> datetime:
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, str):
        moment = parse_datetime(value.strip())
        if moment is None and (day := parse_date(value.strip())) is not None:
            moment = datetime(day.year, day.month, day.day)
    else:
        moment = None
    if moment is None:
        raise SideError(f"{name}: an ISO 8601 date or time (2026-12-01 or 2026-12-01T06:00Z).")
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def window_check(*, endpoint: str, start, end) -> Side:
    start, end = _moment(start, "start"), _moment(end, "end")
    if end <= start:
        raise SideError("A window ends after it starts.")
    if end - start > MAX_WINDOW:
        raise SideError(f"A window is at most {MAX_WINDOW.days} days.")
    if not isinstance(endpoint, str) or not endpoint.strip():
        raise SideError("endpoint: the name of an endpoint.")
    return Side(kind="window", endpoint=endpoint.strip(), start=start, end=end)


def side_parse(value, *, user) -> Side:
    """A report's side as given in the API, checked (the endpoint one ``user`` may see)."""
    if isinstance(value, str) and value.startswith("endpoint:"):
        name, _, span = value.removeprefix("endpoint:").partition(":")
        start, _, end = span.partition("/")
        value = {"endpoint": name, "start": start, "end": end}
    if isinstance(value, dict):
        if set(value) != {"endpoint", "start", "end"}:
            raise SideError('A window is {"endpoint": <name>, "start": <ISO time>, "end": <ISO time>}.')
        side = window_check(**value)
        endpoint_visible(user=user, name=side.endpoint)
        return side
    if isinstance(value, str):
        return Side(kind="dataset", dataset=dataset_check(value))
    raise SideError("A dataset path under the data root, or a window of an endpoint's traffic.")


def endpoint_visible(*, user, name: str):
    """The endpoint called ``name`` that ``user`` may see; SideError otherwise (never whose it is)."""
    found = endpoint_selectors.endpoints_visible(user=user).filter(name=name).exclude(state="deleted").first()
    if found is None:
        raise SideError(f"No endpoint {name!r} among your teams' endpoints.")
    return found


def model_version_visible(*, user, version_id):
    """A model version of the person's teams, by id; SideError otherwise."""
    try:
        version = registry_selectors.version_visible(user=user, pk=version_id)
    except (ValueError, ValidationError):
        version = None
    if version is None:
        raise SideError("No such model version among your teams' models.")
    return version


def training_reference(*, user, version_id) -> tuple[dict, str]:
    """A reference that is a model version's training data (checked: the run or the registry
    says what it was trained on); profiled later, in a worker."""
    version = model_version_visible(user=user, version_id=version_id)
    try:
        request = training_request(version)
    except EvidenceUnavailable as error:
        raise SideError(str(error)) from None
    label = f"training data of {version.model.name} v{version.version} ({request.dataset})"
    return {"model_version": str(version.pk)}, label


# --- profiling (in workers) --------------------------------------------------------------------


def dataset_profile(path: str) -> DatasetProfile:
    """A CSV or Parquet file under the data root, streamed into one profile."""
    resolved = data_path(path)
    if not resolved.is_file():
        raise SideError(f"The dataset {path} is gone from the data root.")
    if resolved.suffix.lower() == ".parquet":
        return profile_parquet(resolved)
    import pyarrow.csv as csv

    profile = None
    with csv.open_csv(resolved, read_options=csv.ReadOptions(block_size=CSV_BLOCK)) as reader:
        for batch in reader:
            part = profile_frame(batch)
            profile = part if profile is None else profile_merge(profile, part)
    return profile or DatasetProfile()


def training_profile(*, user, version_id) -> DatasetProfile:
    """The features a model version was trained on (its target left out), as its training job read them."""
    version = model_version_visible(user=user, version_id=version_id)
    try:
        features, _ = load_dataset(training_request(version), data_root=Path(settings.DATA_ROOT))
    except EvidenceUnavailable as error:
        raise SideError(str(error)) from None
    return profile_frame(features)


def captured_inputs(table):
    """The input rows of captured requests (the ``request`` column: a JSON array of row
    objects per request) as one pyarrow table; columns with no value at all left out."""
    rows = []
    for text in table.column("request").to_pylist():
        if text:
            parsed = json.loads(text)
            rows.extend(row for row in (parsed if isinstance(parsed, list) else [parsed]) if isinstance(row, dict))
    return rows_table(rows)


def window_profile(side: Side) -> DatasetProfile | None:
    """The profile of an endpoint's traffic in the window, file by file, merged; None with no rows."""
    profile = None
    for table in gateway_selectors.captured_windows(
        endpoint=side.endpoint, start=side.start, end=side.end, columns=["time", "request"]
    ):
        inputs = captured_inputs(table)
        if inputs is None:
            continue
        part = profile_frame(inputs)
        profile = part if profile is None else profile_merge(profile, part)
    return profile


def side_profile(side: Side) -> DatasetProfile | None:
    return dataset_profile(side.dataset) if side.kind == "dataset" else window_profile(side)


def side_of(stored: dict) -> Side:
    """A side as stored on a report (``Side.as_json``)."""
    if "dataset" in stored:
        return Side(kind="dataset", dataset=stored["dataset"])
    return Side(
        kind="window",
        endpoint=stored["endpoint"],
        start=datetime.fromisoformat(stored["start"]),
        end=datetime.fromisoformat(stored["end"]),
    )


RETRAIN_ROWS = 200_000  # at most this many of a window's rows are written for a retraining run
RETRAIN_FOLDER = "monitoring/retraining"


def window_write(side: Side, *, name: str, max_rows: int = RETRAIN_ROWS) -> tuple[str, int]:
    """The window's captured input rows written to a Parquet file under the data root (the
    first ``max_rows``, file by file: bounded), for a run to read as its dataset. Returns its
    path relative to the data root and the rows written (0: no file)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    relative = f"{RETRAIN_FOLDER}/{name}.parquet"
    target = data_path(relative)
    target.parent.mkdir(parents=True, exist_ok=True)
    writer, schema, written = None, None, 0
    try:
        for table in gateway_selectors.captured_windows(
            endpoint=side.endpoint, start=side.start, end=side.end, columns=["time", "request"]
        ):
            inputs = captured_inputs(table)
            if inputs is None:
                continue
            inputs = inputs.slice(0, max_rows - written)
            if writer is None:
                schema = inputs.schema
                writer = pq.ParquetWriter(target, schema)
            try:
                inputs = inputs.select(schema.names).cast(schema)
            except (KeyError, pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError):
                continue  # a file whose columns differ from the first's: left out
            writer.write_table(inputs)
            written += inputs.num_rows
            if written >= max_rows:
                break
    finally:
        if writer is not None:
            writer.close()
    return (relative, written) if written else ("", 0)
