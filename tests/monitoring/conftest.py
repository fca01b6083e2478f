"""Monitoring's Django-side fixtures: datasets written under the session's data root, the
gateway's own capture writer into a capture folder of the test's own, and the run engine
driven in-process the way the worker and the beat drive it (one task per call)."""

import json
import uuid
from pathlib import Path

import numpy as np
import pandas as pd
import pytest


def frame(rows: int, *, shift: float = 0.0, new_city: bool = False, seed: int = 7) -> pd.DataFrame:
    """Rows of income, age and city; ``shift`` moves income, ``new_city`` adds Accra. Seeded
    by the arguments: a test's verdicts never depend on which tests ran before it."""
    rng = np.random.default_rng([seed, rows, int(shift * 100), int(new_city)])
    cities = ["Oslo", "Lima", "Pune"] + (["Accra"] if new_city else [])
    weights = [0.5, 0.3, 0.2] if not new_city else [0.2, 0.2, 0.2, 0.4]
    return pd.DataFrame(
        {
            "income": rng.normal(50 + shift * 10, 10, rows),
            "age": rng.normal(40, 8, rows),
            "city": rng.choice(cities, rows, p=weights),
        }
    )


@pytest.fixture
def datasets(settings):
    """write(name, frame) -> the path relative to the data root, in a folder of this test's own."""
    folder = Path(settings.DATA_ROOT) / f"drift-{uuid.uuid4().hex[:8]}"
    folder.mkdir(parents=True)

    def write(name: str, data: pd.DataFrame) -> str:
        path = folder / name
        if name.endswith(".csv"):
            data.to_csv(path, index=False)
        else:
            data.to_parquet(path, index=False)
        return str(path.relative_to(Path(settings.DATA_ROOT)))

    return write


@pytest.fixture
def capture(settings, tmp_path):
    """capture(endpoint, rows, at) writes the rows as scored requests through the gateway's
    own CaptureWriter (the files monitoring reads are the gateway's, not hand-made)."""
    from apps.gateway.capture import Captured, CaptureWriter

    settings.GATEWAY_CAPTURE_ROOT = str(tmp_path / "capture")
    writer = CaptureWriter(settings.GATEWAY_CAPTURE_ROOT, batch_rows=500)

    def write(endpoint: str, data: pd.DataFrame, at: float, per_request: int = 10) -> None:
        records = data.to_dict("records")
        for index in range(0, len(records), per_request):
            body = json.dumps({"dataframe_records": records[index : index + per_request]}).encode()
            writer.offer(
                Captured(
                    event_id=uuid.uuid4().hex,
                    at=at + index * 0.001,
                    endpoint=endpoint,
                    variant="a",
                    status=200,
                    latency_ms=3.0,
                    request=body,
                    response=b'{"predictions": [0]}',
                )
            )
        writer.flush()

    return write


def drive(run, limit: int = 10):
    """Advance the run as the worker and the beat would until it ends."""
    from apps.runs import tasks
    from apps.runs.models import TERMINAL

    for _ in range(limit):
        tasks.advance_run.apply(args=[str(run.pk)])
        run.refresh_from_db()
        if run.status in TERMINAL:
            return run
    raise AssertionError(f"run still {run.status}: {[(s.key, s.status, s.status_message) for s in run.steps.all()]}")


@pytest.fixture
def manager(make_user):
    from apps.accounts.models import Role

    return make_user("mgr", role=Role.MANAGER)


def api_for(user):
    from rest_framework.test import APIClient

    from apps.accounts.services import api_token_create

    _, key = api_token_create(user=user)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    return client
