# ruff: noqa: F401 - fixtures shared with the registry and contract suites
"""Approvals fixtures: the registry suite's real MLflow and stand-ins, and a
team with its environments and approvers."""

import pytest

from tests.registry.conftest import (
    admin,
    aws_stand_in,
    databricks_connection,
    databricks_stand_in,
    isolate_sources,
    local_mlflow,
    logged_iris_model,
    mlflow_logged,
    model_name,
    sagemaker_connection,
    sm,
)
