"""Part of the Databricks STAND-IN (not Databricks): Unity Catalog's REST API
(``/api/2.1/unity-catalog``) for what Atrium uses of it.

* Registered models (create / list / get / delete), model versions (get /
  list) and aliases (get / set / delete). Versions themselves are created
  through MLflow's Unity Catalog registry API (``.mlflow``).
* Schemas (create / get / delete, ``force`` deleting the models in them), as
  Atrium's workspace provisioning uses them. Names are stored in lower case, as
  Unity Catalog does; any catalog name is accepted.
"""

from __future__ import annotations

import re
import uuid

from databricks.sdk.service import catalog

from .router import ApiError, already_exists, invalid, not_found, route
from .state import USER, WORKSPACE_ID, now_ms

UC_NAME = re.compile(r"^[^./\s\x00-\x1f]{1,255}$")


class UnityCatalogApi:
    """Registered models, versions, aliases and schemas. Mixed into
    ``DatabricksStandIn``: uses its state."""

    def _model(self, full: str) -> dict:
        model = self.state["models"].get(full)
        if model is None:
            raise not_found(f"Registered model '{full}' does not exist.")
        return model

    def _version(self, full: str, version) -> dict:
        found = self._model(full)["versions"].get(str(version))
        if found is None:
            raise not_found(f"Model version '{full}/{version}' does not exist.")
        return found

    def _model_json(self, model: dict, aliases: bool = True) -> dict:
        catalog_name, schema_name, name = model["full_name"].split(".")
        info = catalog.RegisteredModelInfo(
            full_name=model["full_name"],
            catalog_name=catalog_name,
            schema_name=schema_name,
            name=name,
            comment=model.get("comment"),
            created_at=model["created_at"],
            created_by=USER,
            owner=USER,
            storage_location=f"s3://stand-in/models/{model['full_name']}",
        )
        if aliases:
            info.aliases = [
                catalog.RegisteredModelAlias(alias_name=alias, version_num=int(version))
                for alias, version in sorted(model["aliases"].items())
            ]
        return info.as_dict()

    def _version_json(self, model: dict, version: dict, aliases: bool = True) -> dict:
        catalog_name, schema_name, name = model["full_name"].split(".")
        info = catalog.ModelVersionInfo(
            model_name=name,
            catalog_name=catalog_name,
            schema_name=schema_name,
            version=int(version["version"]),
            source=version["source"],
            run_id=version.get("run_id") or None,
            comment=version.get("description") or None,
            status=catalog.ModelVersionInfoStatus(version["status"]),
            storage_location=version["storage_location"],
            created_at=version["created_at"],
            created_by=USER,
            id=version["id"],
        )
        if aliases:
            info.aliases = [
                catalog.RegisteredModelAlias(alias_name=alias, version_num=int(v))
                for alias, v in sorted(model["aliases"].items())
                if str(v) == str(version["version"])
            ]
        return info.as_dict()

    @route("POST", r"^/api/2\.1/unity-catalog/models$")
    def _model_create(self, payload, **_):
        info = catalog.RegisteredModelInfo.from_dict(payload)
        if not (info.catalog_name and info.schema_name and info.name):
            raise invalid("catalog_name, schema_name and name are required.")
        full = f"{info.catalog_name}.{info.schema_name}.{info.name}"
        if full in self.state["models"]:
            raise ApiError(409, "RESOURCE_ALREADY_EXISTS", f"Registered model '{full}' already exists.")
        self.state["models"][full] = {
            "full_name": full,
            "comment": info.comment,
            "created_at": now_ms(),
            "versions": {},
            "aliases": {},
        }
        return self._model_json(self.state["models"][full])

    @route("GET", r"^/api/2\.1/unity-catalog/models$")
    def _model_list(self, **_):
        return {"registered_models": [self._model_json(m, aliases=False) for m in self.state["models"].values()]}

    @route("GET", r"^/api/2\.1/unity-catalog/models/(?P<full>[^/]+)$")
    def _model_get(self, full, query, **_):
        return self._model_json(self._model(full), aliases=query.get("include_aliases") == "true")

    @route("DELETE", r"^/api/2\.1/unity-catalog/models/(?P<full>[^/]+)$")
    def _model_delete(self, full, **_):
        self._model(full)
        del self.state["models"][full]
        return {}

    @route("GET", r"^/api/2\.1/unity-catalog/models/(?P<full>[^/]+)/versions$")
    def _version_list(self, full, **_):
        model = self._model(full)
        versions = sorted(model["versions"].values(), key=lambda v: -int(v["version"]))
        return {"model_versions": [self._version_json(model, v, aliases=False) for v in versions]}

    @route("GET", r"^/api/2\.1/unity-catalog/models/(?P<full>[^/]+)/versions/(?P<version>\d+)$")
    def _version_get(self, full, version, query, **_):
        model = self._model(full)
        return self._version_json(model, self._version(full, version), aliases=query.get("include_aliases") == "true")

    @route("GET", r"^/api/2\.1/unity-catalog/models/(?P<full>[^/]+)/aliases/(?P<alias>[^/]+)$")
    def _alias_get(self, full, alias, **_):
        model = self._model(full)
        if alias not in model["aliases"]:
            raise not_found(f"Alias '{alias}' does not exist for registered model '{full}'.")
        return self._version_json(model, model["versions"][str(model["aliases"][alias])])

    @route("PUT", r"^/api/2\.1/unity-catalog/models/(?P<full>[^/]+)/aliases/(?P<alias>[^/]+)$")
    def _alias_set(self, full, alias, payload, **_):
        model = self._model(full)
        version = payload.get("version_num")
        if version is None:
            raise invalid("version_num is required.")
        self._version(full, version)
        if not re.match(r"^[A-Za-z_][A-Za-z0-9_]{0,254}$", alias) or re.match(r"^v\d+$", alias, re.IGNORECASE):
            raise invalid(f"Invalid alias name {alias!r}.")
        model["aliases"][alias] = int(version)
        catalog_name, schema_name, name = full.split(".")
        return catalog.RegisteredModelAlias(
            alias_name=alias,
            version_num=int(version),
            catalog_name=catalog_name,
            schema_name=schema_name,
            model_name=name,
        ).as_dict()

    @route("DELETE", r"^/api/2\.1/unity-catalog/models/(?P<full>[^/]+)/aliases/(?P<alias>[^/]+)$")
    def _alias_delete(self, full, alias, **_):
        model = self._model(full)
        if alias not in model["aliases"]:
            raise not_found(f"Alias '{alias}' does not exist for registered model '{full}'.")
        del model["aliases"][alias]
        return {}

    # --- schemas ---------------------------------------------------------------------------

    def _schema(self, full: str) -> dict:
        schema = self.state["schemas"].get(full.lower())
        if schema is None:
            raise not_found(f"Schema '{full}' does not exist.")
        return schema

    def _schema_json(self, schema: dict) -> dict:
        return catalog.SchemaInfo(
            full_name=schema["full_name"],
            catalog_name=schema["catalog_name"],
            name=schema["name"],
            comment=schema.get("comment"),
            properties=schema.get("properties") or None,
            schema_id=schema["schema_id"],
            owner=USER,
            created_by=USER,
            updated_by=USER,
            created_at=schema["created_at"],
            updated_at=schema["created_at"],
            metastore_id=WORKSPACE_ID,
            catalog_type=catalog.CatalogType.MANAGED_CATALOG,
            storage_location=f"s3://stand-in/catalogs/{schema['catalog_name']}/schemas/{schema['schema_id']}",
        ).as_dict()

    @route("POST", r"^/api/2\.1/unity-catalog/schemas$")
    def _schema_create(self, payload, **_):
        info = catalog.SchemaInfo.from_dict(payload)
        if not info.catalog_name or not info.name:
            raise invalid("catalog_name and name are required.")
        if not UC_NAME.match(info.name):
            raise invalid(f"Invalid schema name {info.name!r}: no '.', ' ', '/' or control characters.")
        name = info.name.lower()  # Unity Catalog stores names in lower case
        full = f"{info.catalog_name.lower()}.{name}"
        if full in self.state["schemas"]:
            raise already_exists(f"Schema '{name}' already exists")
        properties = info.properties or {}
        if any(not isinstance(v, str) for v in properties.values()):
            raise invalid("Schema properties must be strings.")
        self.state["schemas"][full] = {
            "full_name": full,
            "catalog_name": info.catalog_name.lower(),
            "name": name,
            "comment": info.comment,
            "properties": dict(properties),
            "schema_id": str(uuid.uuid4()),
            "created_at": now_ms(),
        }
        return self._schema_json(self.state["schemas"][full])

    @route("GET", r"^/api/2\.1/unity-catalog/schemas/(?P<full>[^/]+)$")
    def _schema_get(self, full, **_):
        return self._schema_json(self._schema(full))

    @route("DELETE", r"^/api/2\.1/unity-catalog/schemas/(?P<full>[^/]+)$")
    def _schema_delete(self, full, query, **_):
        schema = self._schema(full)
        models = [m for m in self.state["models"] if m.lower().startswith(schema["full_name"] + ".")]
        if models and query.get("force") != "true":
            raise ApiError(
                400,
                "SCHEMA_NOT_EMPTY",
                f"Cannot delete schema '{schema['full_name']}': it contains {len(models)} object(s).",
            )
        for model in models:
            del self.state["models"][model]
        del self.state["schemas"][schema["full_name"]]
        return {}
