"""Part of the AWS STAND-IN (not AWS, not SageMaker's containers): the optional
container stand-in (``AwsStandIn(programs_dir=...)``, ``--programs``, as
``make run`` starts it), used by the training and runtime extensions. Training
jobs run the program of their submit directory on this machine, as the
scikit-learn image runs it, and endpoints answer with the model and handlers a
job produced. Without it, moto runs nothing (jobs complete with made-up
metrics, invocations answer from the queue tests seed).

Training: the submit directory's tarball is read back from moto's S3 and
unpacked with the job's ``hyperparameters.json``; the program runs with the
image's ``SM_*`` folders; on success the model folder goes to the job's
``S3ModelArtifacts`` as model.tar.gz and the job's metric definitions are read
from its output, as SageMaker reads them from the logs.

Serving: an InvokeEndpoint goes to its ``TargetVariant``, or to a variant
picked by the current weights; it follows the variant's model to the model
package, loads the package's ``SAGEMAKER_PROGRAM`` from
``SAGEMAKER_SUBMIT_DIRECTORY`` and its ``ModelDataUrl``, and calls the
program's ``model_fn`` / ``input_fn`` / ``predict_fn`` / ``output_fn``.
"""

from __future__ import annotations

import hashlib
import importlib.util
import io
import json
import os
import random
import re
import signal
import subprocess
import sys
import tarfile
import threading
from contextlib import suppress
from pathlib import Path

from apps.backends.jobs.job_code import tarball

settings: dict[str, Path | None] = {"programs_dir": None}  # moto's backends are per process, and so is this
_loaded: dict[tuple[str, str], tuple] = {}  # (program, model) S3 URIs -> (module, model)
_load_lock = threading.Lock()


def enabled() -> bool:
    return settings["programs_dir"] is not None


# --- S3 (moto's, in this process) ----------------------------------------------------------


def _s3(account_id: str):
    from moto.s3.models import s3_backends

    return s3_backends[account_id]["aws"]


def s3_object(account_id: str, uri: str):
    """moto's object at an ``s3://`` URI, or None if it (or its bucket) is not there."""
    from moto.s3.exceptions import MissingBucket

    bucket, _, key = uri.removeprefix("s3://").partition("/")
    try:
        return _s3(account_id).get_object(bucket, key)
    except MissingBucket:
        return None


def put_object(account_id: str, uri: str, data: bytes) -> None:
    """Write moto's object at an ``s3://`` URI (its bucket must exist, as on AWS)."""
    bucket, _, key = uri.removeprefix("s3://").partition("/")
    _s3(account_id).put_object(bucket, key, data)


def _read(account_id: str, uri: str) -> bytes:
    found = s3_object(account_id, uri)
    if found is None:
        raise FileNotFoundError(uri)
    return found.value


def _account(job) -> str:
    return job.arn.split(":")[4]  # arn:aws:sagemaker:<region>:<account>:training-job/<name>


def _unpack(content: bytes, folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    with tarfile.open(fileobj=io.BytesIO(content)) as tar:
        tar.extractall(folder, filter="data")
    return folder


# --- training ------------------------------------------------------------------------------


def start_training(job) -> subprocess.Popen:
    hyperparameters = job.hyper_parameters or {}
    folder = settings["programs_dir"] / job.training_job_name
    code = _unpack(_read(_account(job), hyperparameters["sagemaker_submit_directory"]), folder / "code")
    (folder / "config").mkdir(parents=True, exist_ok=True)
    (folder / "config" / "hyperparameters.json").write_text(json.dumps(hyperparameters))
    env = {
        **os.environ,
        "SM_INPUT_CONFIG_DIR": str(folder / "config"),
        "SM_MODEL_DIR": str(folder / "model"),
        "SM_CHANNEL_TRAINING": str(folder / "data"),
    }
    with open(folder / "output.txt", "wb") as output:
        return subprocess.Popen(
            [sys.executable, "-I", str(code / hyperparameters["sagemaker_program"])],
            cwd=folder,
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def finish_training(job, process: subprocess.Popen) -> tuple[str | None, list[dict]]:
    """(failure reason or None, final metrics) of a program that has ended; the model goes to S3."""
    folder = settings["programs_dir"] / job.training_job_name
    output = (folder / "output.txt").read_text(errors="replace")
    if process.returncode:
        last = next((line for line in reversed(output.splitlines()) if line.strip()), "the program failed")
        return f"AlgorithmError: {last}", []
    model = {path.name: path.read_bytes() for path in (folder / "model").iterdir() if path.is_file()}
    bucket, _, key = job.model_artifacts["S3ModelArtifacts"].removeprefix("s3://").partition("/")
    _s3(_account(job)).put_object(bucket, key, tarball(model))
    return None, _metrics(job.algorithm_specification.get("MetricDefinitions") or [], output)


def _metrics(definitions: list[dict], output: str) -> list[dict]:
    from moto.core.utils import utcnow

    found = []
    for definition in definitions:
        matches = re.findall(definition["Regex"], output)
        if matches:  # SageMaker keeps the last value a job printed
            with suppress(ValueError):
                found.append({"MetricName": definition["Name"], "Value": float(matches[-1]), "Timestamp": utcnow()})
    return found


def stop(process: subprocess.Popen | None) -> None:
    if process is not None and process.poll() is None:
        with suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)


# --- serving -------------------------------------------------------------------------------


class UnknownVariant(LookupError):
    """InvokeEndpoint's ``TargetVariant`` names no variant of the endpoint."""


def invoke(
    sagemaker,
    endpoint_name: str,
    body: str,
    content_type: str | None,
    accept: str | None,
    target_variant: str | None = None,
) -> tuple[str, str, str] | None:
    """(body, content type, variant) from the endpoint's real model, or None where there is none to run.
    The variant is ``target_variant`` when given (whatever its weight, as SageMaker routes
    ``TargetVariant``), otherwise one picked by the variants' current weights."""
    endpoint = sagemaker.endpoints.get(endpoint_name)
    if endpoint is None:
        return None
    if target_variant:
        variant = next((v for v in endpoint.production_variants if v["VariantName"] == target_variant), None)
        if variant is None:
            raise UnknownVariant(f"Variant {target_variant} is not part of endpoint {endpoint_name}.")
    else:
        variants = [v for v in endpoint.production_variants if float(v.get("CurrentWeight", 1) or 0) > 0]
        if not variants:
            return None
        variant = random.choices(variants, weights=[float(v.get("CurrentWeight", 1)) for v in variants])[0]  # noqa: S311
    config = sagemaker.endpoint_configs[endpoint.endpoint_config_name]
    model_name = next(v["ModelName"] for v in config.production_variants if v["VariantName"] == variant["VariantName"])
    container = sagemaker._models[model_name].primary_container or {}
    package = sagemaker.model_packages.get(container.get("ModelPackageName", ""))
    if package is None:
        return None
    (spec,) = package.inference_specification["Containers"][:1]
    environment = spec.get("Environment") or {}
    if "SAGEMAKER_SUBMIT_DIRECTORY" not in environment:
        return None
    module, model = _load(sagemaker.account_id, environment, spec["ModelDataUrl"])
    frame = module.input_fn(body, content_type or "application/json")
    answer, answer_type = module.output_fn(module.predict_fn(frame, model), accept or "")
    return answer, answer_type, variant["VariantName"]


def _load(account_id: str, environment: dict, model_uri: str):
    """The program's module and the model it loaded, once per (program, model)."""
    source = environment["SAGEMAKER_SUBMIT_DIRECTORY"]
    with _load_lock:
        if (source, model_uri) not in _loaded:
            folder = (
                settings["programs_dir"] / "serving" / hashlib.sha256(f"{source} {model_uri}".encode()).hexdigest()[:16]
            )
            code = _unpack(_read(account_id, source), folder / "code")
            model_dir = _unpack(_read(account_id, model_uri), folder / "model")
            found = importlib.util.spec_from_file_location(
                f"atrium_served_{folder.name}", code / environment["SAGEMAKER_PROGRAM"]
            )
            module = importlib.util.module_from_spec(found)
            found.loader.exec_module(module)
            _loaded[(source, model_uri)] = (module, module.model_fn(str(model_dir)))
        return _loaded[(source, model_uri)]
