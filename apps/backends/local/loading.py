"""Registered versions loaded into the portal's process, to be scored there
(the evidence pack re-scores, explains and times them), and a scoring request
answered as the local model server answers it.

A version's files are downloaded from MLflow (the registry's download URI,
read with the backend's own tracking URI: MLflow's process-wide settings are
left alone) into a temporary folder and loaded as the model server loads them
(``mlflow.pyfunc.load_model``: the sklearn flavour's skops file, with the types
trusted when the training job logged it); the folder is removed once the
model is in memory. Only scikit-learn models are scored in the portal.
"""

from __future__ import annotations

import io
import json
import tempfile
import warnings

from ..base import BackendError, LoadedModel, ModelRef
from .registry import mlflow_client, mlflow_errors


def load_model(tracking_uri: str, model: ModelRef) -> LoadedModel:
    import mlflow.pyfunc
    from mlflow.artifacts import download_artifacts

    action = f"Loading {model.name} version {model.version} from MLflow"
    with mlflow_errors(action):
        uri = mlflow_client(tracking_uri).get_model_version_download_uri(model.name, str(model.version))
        with tempfile.TemporaryDirectory(prefix="atrium-model-") as folder:
            path = download_artifacts(artifact_uri=uri, tracking_uri=tracking_uri, dst_path=folder)
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", UserWarning)  # MLflow's hints, as the model server ignores them
                    served = mlflow.pyfunc.load_model(path)
            except (OSError, ValueError, TypeError, ImportError) as exc:  # a file MLflow cannot read back
                raise BackendError(f"{action} failed: {type(exc).__name__}: {exc}", permanent=True) from exc
    return loaded(served, model)


def loaded(served, model: ModelRef) -> LoadedModel:
    """The scikit-learn estimator inside an MLflow pyfunc, and its input columns."""
    from sklearn.base import BaseEstimator

    try:
        estimator = served.get_raw_model()
    except Exception:  # a flavour without a raw model: said below
        estimator = None
    if not isinstance(estimator, BaseEstimator):
        raise BackendError(
            f"{model.name} version {model.version} is not a scikit-learn model "
            f"(its flavours: {', '.join(served.metadata.flavors)}): the portal scores "
            "scikit-learn models only.",
            permanent=True,
        )
    names = getattr(estimator, "feature_names_in_", None)
    if names is None:
        schema = served.metadata.get_input_schema()
        names = schema.input_names() if schema is not None and schema.has_input_names() else ()
    return LoadedModel(estimator=estimator, features=tuple(str(n) for n in names), served=served)


def score_request(model: LoadedModel, body: bytes, content_type: str) -> bytes:
    """The local model server's answer to ``POST /invocations`` with ``body`` (serving.py's handler)."""
    from mlflow.pyfunc.scoring_server import predictions_to_json

    from .serving import BadRequest, predict

    if not (content_type or "").startswith("application/json"):
        raise BackendError("The local model server takes application/json scoring requests.", permanent=True)
    try:
        payload = json.loads(body or b"null")
        output = io.StringIO()
        predictions_to_json(predict(model.served, payload), output)
    except (json.JSONDecodeError, UnicodeDecodeError, BadRequest) as exc:
        raise BackendError(f"The local model server would refuse the request: {exc}", permanent=True) from exc
    return output.getvalue().encode()
