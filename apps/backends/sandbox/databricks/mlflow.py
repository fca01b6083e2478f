"""Part of the Databricks STAND-IN (not Databricks): the MLflow REST API a
Databricks workspace serves, for what Atrium and MLflow's clients use of it.

* Unity Catalog model versions, created the way MLflow's Unity Catalog
  registry creates them (``/api/2.0/mlflow/unity-catalog/model-versions/create``
  then ``/finalize``; the stand-in skips the artifact upload to
  ``storage_location`` and serves from ``source``), read back with their tags
  (``get``), tagged (``set-tag`` / ``delete-tag``): the registry mirror.
* Experiments (create / get / get-by-name / delete). Experiments are workspace
  objects: one is created in an existing folder, a recursive folder delete
  deletes the experiments in it (``.workspace``), and a deleted experiment
  keeps its id (``lifecycle_stage`` "deleted") but frees its name. As on
  Databricks, names are stored without the ``/Workspace`` prefix and
  ``get-by-name`` matches the stored name only.
"""

from __future__ import annotations

import uuid

from databricks.sdk.service import ml

from .router import already_exists, invalid, not_found, route
from .state import now_ms
from .workspace import workspace_path


class MlflowApi:
    """MLflow's Unity Catalog model versions and experiments. Mixed into
    ``DatabricksStandIn``: uses its state and the catalog's models."""

    # --- Unity Catalog model versions ---------------------------------------------------------

    def _mlflow_version_json(self, model: dict, version: dict) -> dict:
        return {
            "model_version": {
                "name": model["full_name"],
                "version": str(version["version"]),
                "source": version["source"],
                "run_id": version.get("run_id") or "",
                "description": version.get("description") or "",
                "status": version["status"],
                "storage_location": version["storage_location"],
                "creation_timestamp": version["created_at"],
                "last_updated_timestamp": version["created_at"],
            }
        }

    @route("POST", r"^/api/2\.0/mlflow/unity-catalog/model-versions/create$")
    def _mlflow_version_create(self, payload, **_):
        full = payload.get("name") or ""
        model = self._model(full)
        if not payload.get("source"):
            raise invalid("source is required.")
        number = max((int(v) for v in model["versions"]), default=0) + 1
        version = {
            "version": number,
            "source": payload["source"],
            "run_id": payload.get("run_id") or "",
            "description": payload.get("description") or "",
            "status": "PENDING_REGISTRATION",
            "storage_location": f"s3://stand-in/models/{full}/versions/{number}",
            "created_at": now_ms(),
            "id": uuid.uuid4().hex,
        }
        model["versions"][str(number)] = version
        return self._mlflow_version_json(model, version)

    @route("POST", r"^/api/2\.0/mlflow/unity-catalog/model-versions/finalize$")
    def _mlflow_version_finalize(self, payload, **_):
        full = payload.get("name") or ""
        model = self._model(full)
        version = self._version(full, payload.get("version"))
        version["status"] = "READY"
        return self._mlflow_version_json(model, version)

    # registry mirror: model version tags (MLflow's Unity Catalog API)

    @route("GET", r"^/api/2\.0/mlflow/unity-catalog/model-versions/get$")
    def _mlflow_version_get(self, query, **_):
        full = query.get("name") or ""
        model = self._model(full)
        version = self._version(full, query.get("version"))
        found = self._mlflow_version_json(model, version)
        found["model_version"]["tags"] = [{"key": k, "value": v} for k, v in sorted(version.get("tags", {}).items())]
        return found

    @route("POST", r"^/api/2\.0/mlflow/unity-catalog/model-versions/set-tag$")
    def _mlflow_version_set_tag(self, payload, **_):
        version = self._version(payload.get("name") or "", payload.get("version"))
        if not payload.get("key"):
            raise invalid("key is required.")
        version.setdefault("tags", {})[payload["key"]] = str(payload.get("value", ""))
        return {}

    @route("DELETE", r"^/api/2\.0/mlflow/unity-catalog/model-versions/delete-tag$")
    def _mlflow_version_delete_tag(self, payload, query, **_):
        args = {**query, **payload}
        version = self._version(args.get("name") or "", args.get("version"))
        if args.get("key") not in version.get("tags", {}):
            raise not_found(f"Tag '{args.get('key')}' does not exist on this model version.")
        del version["tags"][args["key"]]
        return {}

    # --- experiments ----------------------------------------------------------------------------

    def _active_experiment_named(self, name: str) -> dict | None:
        return next(
            (e for e in self.state["experiments"].values() if e["name"] == name and e["lifecycle_stage"] == "active"),
            None,
        )

    def _experiment(self, experiment_id) -> dict:
        experiment = self.state["experiments"].get(str(experiment_id or ""))
        if experiment is None:
            raise not_found(f"Could not find experiment with ID {experiment_id}")
        return experiment

    def _experiment_json(self, experiment: dict) -> dict:
        info = ml.Experiment(
            experiment_id=experiment["experiment_id"],
            name=experiment["name"],
            artifact_location=experiment["artifact_location"],
            lifecycle_stage=experiment["lifecycle_stage"],
            creation_time=experiment["creation_time"],
            last_update_time=experiment["last_update_time"],
            tags=[ml.ExperimentTag(key=k, value=v) for k, v in sorted(experiment["tags"].items())] or None,
        )
        return {"experiment": info.as_dict()}

    @route("POST", r"^/api/2\.0/mlflow/experiments/create$")
    def _experiment_create(self, payload, **_):
        request = ml.Experiment.from_dict(payload)
        if not request.name or not request.name.startswith("/"):
            raise invalid(f"Got an invalid experiment name {request.name!r}: it must be an absolute workspace path.")
        name = workspace_path(request.name)
        if name in self.state["folders"] or self._active_experiment_named(name) is not None:
            raise already_exists(f"Node named '{name.rsplit('/', 1)[-1]}' already exists")
        parent = name.rsplit("/", 1)[0] or "/"
        if parent not in self.state["folders"]:
            raise not_found(f"Parent directory {parent} does not exist.")
        experiment_id = str(self._new_id())
        self.state["experiments"][experiment_id] = {
            "experiment_id": experiment_id,
            "name": name,
            "artifact_location": request.artifact_location or f"dbfs:/databricks/mlflow-tracking/{experiment_id}",
            "lifecycle_stage": "active",
            "creation_time": now_ms(),
            "last_update_time": now_ms(),
            "tags": {t.key: t.value or "" for t in request.tags or [] if t.key},
        }
        return ml.CreateExperimentResponse(experiment_id=experiment_id).as_dict()

    @route("GET", r"^/api/2\.0/mlflow/experiments/get$")
    def _experiment_get(self, query, **_):
        return self._experiment_json(self._experiment(query.get("experiment_id")))

    @route("GET", r"^/api/2\.0/mlflow/experiments/get-by-name$")
    def _experiment_get_by_name(self, query, **_):
        name = query.get("experiment_name") or ""
        experiment = self._active_experiment_named(name)  # the stored name only, as on Databricks
        if experiment is None:
            raise not_found(f"Node {name} does not exist.")
        return self._experiment_json(experiment)

    @route("POST", r"^/api/2\.0/mlflow/experiments/delete$")
    def _experiment_delete(self, payload, **_):
        experiment = self._experiment(payload.get("experiment_id"))
        experiment.update(lifecycle_stage="deleted", last_update_time=now_ms())
        return {}
