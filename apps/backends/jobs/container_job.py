"""The program SageMaker runs for Atrium, in script mode of the scikit-learn
framework image: the training job's entry point and, in the same file as that
image expects, the inference handlers of the endpoints and batch transforms
that serve the model.

The backend uploads it with the code it imports (``source_bundle`` in
sagemaker/training.py: the jobs package's training code and payload reading)
as the job's ``sagemaker_submit_directory``; nothing else of the portal, and
nothing the image lacks (no MLflow). Training reads the
job's hyperparameters as the backend wrote them (``hyperparameters.json`` in
the input config folder; SageMaker's toolkit turns a JSON value into
``k=v,...`` on the command line, so the file is the faithful copy). A tuning
trial's searched hyperparameters override the ``hyperparameters`` JSON. It
prints each metric as ``name=value`` for the job's metric definitions and saves
the model as ``model.joblib`` in the model folder (the image's convention,
loaded back only by ``model_fn`` below from the job's own output).

Serving takes MLflow's scoring payloads as JSON (``dataframe_records``,
``dataframe_split``, ``instances``, ``inputs``) or CSV rows without a header
(``payloads.payload_frame``, read with pandas: the image has no MLflow), and
answers ``{"predictions": [...]}`` (CSV: a prediction per line).
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

MODEL_FILE = "model.joblib"
FIELDS = ("model_name", "dataset", "algorithm", "task", "hyperparameters", "dataset_options", "target_column")
PLATFORM = {"sagemaker_program", "sagemaker_submit_directory", "sagemaker_region", "sagemaker_container_log_level"}

SUBMIT_DIRECTORY = str(Path(__file__).resolve().parent)
if not __package__ and SUBMIT_DIRECTORY not in sys.path:  # run or served from the unpacked bundle: apps is beside it
    sys.path.insert(0, SUBMIT_DIRECTORY)


def folder(variable: str, default: str) -> Path:
    return Path(os.environ.get(variable) or default)


def job_hyperparameters() -> dict[str, str]:
    path = folder("SM_INPUT_CONFIG_DIR", "/opt/ml/input/config") / "hyperparameters.json"
    return json.loads(path.read_text())


def _value(text: str):
    """A searched hyperparameter as SageMaker passes it (a string): a number if it reads as one."""
    try:
        return json.loads(text)
    except ValueError:
        return text


def training_request(values: dict[str, str]):
    from apps.backends.jobs.training import TrainingRequest

    hyperparameters = json.loads(values.get("hyperparameters") or "{}")
    hyperparameters.update({k: _value(v) for k, v in values.items() if k not in FIELDS and k not in PLATFORM})
    return TrainingRequest(
        dataset=values["dataset"],
        algorithm=values["algorithm"],
        task=values["task"],
        hyperparameters=hyperparameters,
        model_name=values["model_name"],
        target_column=values.get("target_column") or None,
        dataset_options=json.loads(values.get("dataset_options") or "{}"),
    )


def train() -> dict[str, float]:
    import joblib

    from apps.backends.jobs.training import estimator_class, evaluate, fit_with_progress, load_dataset, split

    request = training_request(job_hyperparameters())
    X, y = load_dataset(request, data_root=folder("SM_CHANNEL_TRAINING", "/opt/ml/input/data/training"))
    print(f"Loaded {X.shape[0]} rows x {X.shape[1]} features of {request.dataset}", flush=True)
    X_train, X_test, y_train, y_test = split(X, y, request.task)
    estimator = estimator_class(request.algorithm, request.task)(**request.hyperparameters)
    fit_with_progress(estimator, X_train, y_train, lambda done: print(f"Training {done:.0%}", flush=True))
    scores = evaluate(estimator, X_test, y_test, request.task)
    for name, value in scores.items():
        print(f"{name}={value:.6f}", flush=True)  # read by the job's metric definitions
    model_dir = folder("SM_MODEL_DIR", "/opt/ml/model")
    model_dir.mkdir(parents=True, exist_ok=True)
    joblib.dump(estimator, model_dir / MODEL_FILE)
    return scores


# --- serving: the handlers the scikit-learn image's inference server calls ----------------


def model_fn(model_dir: str):
    import joblib

    return joblib.load(Path(model_dir) / MODEL_FILE)


def input_fn(body, content_type: str):
    from apps.backends.jobs.payloads import payload_frame

    return payload_frame(body, content_type, use_mlflow=False)  # a ValueError says what is wrong with it


def predict_fn(frame, model):
    names = getattr(model, "feature_names_in_", None)
    if names is not None and list(frame.columns) != list(names):
        if len(frame.columns) != len(names):
            raise ValueError(f"Expected {len(names)} features ({', '.join(names)}), got {len(frame.columns)}.")
        frame = frame.set_axis(list(names), axis=1)  # CSV rows and plain lists come without names
    return model.predict(frame)


def output_fn(predictions, accept: str):
    values = predictions.tolist()
    if accept and accept.startswith("text/csv"):
        return "\n".join(str(v) for v in values) + "\n", "text/csv"
    return json.dumps({"predictions": values}), "application/json"


if __name__ == "__main__":
    train()
