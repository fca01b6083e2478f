"""A Databricks connection's settings are declared once (``settings.py``) and
read through those names only; its timeout bounds every call, retries included."""

from __future__ import annotations

import inspect
import socket

import pytest

from apps.backends.base import BackendError, ConnectionSetting
from apps.backends.databricks import settings
from apps.backends.databricks.backend import DatabricksBackend

TOKEN = "dapi-test-token"
# constructor knobs for tests, never read from a connection
NOT_SETTINGS = {"retry_timeout_seconds", "http_timeout_seconds"}


class Recording(dict):
    """A connection's config or secrets that notes every name read from it."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.read: set[str] = set()

    def get(self, key, default=None):
        self.read.add(key)
        return super().get(key, default)

    def __getitem__(self, key):
        self.read.add(key)
        return super().__getitem__(key)

    def __contains__(self, key):
        self.read.add(key)
        return super().__contains__(key)


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]  # nothing listens once the socket is closed


def test_the_backend_declares_its_settings():
    declared = {s.name: s for s in DatabricksBackend.connection_settings}
    assert DatabricksBackend.connection_settings is settings.CONNECTION_SETTINGS
    assert all(isinstance(s, ConnectionSetting) and s.label and s.help for s in declared.values())
    assert len(declared) == len(DatabricksBackend.connection_settings)  # each once
    assert {name for name, s in declared.items() if s.required} == {"host", "token"}
    assert {name for name, s in declared.items() if s.secret} == {"token"}
    assert declared["timeout_seconds"].default == "10"


def test_every_setting_read_is_declared_and_every_declared_one_is_used():
    declared = {s.name for s in settings.CONNECTION_SETTINGS}
    config = Recording(host="https://example.cloud.databricks.com", catalog="c", timeout_seconds="3")
    secrets = Recording(token=TOKEN)
    backend = DatabricksBackend.from_connection(config, secrets)
    assert config.read | secrets.read == declared
    assert secrets.read == {s.name for s in settings.CONNECTION_SETTINGS if s.secret}
    # what the connection fills is what the backend takes, and nothing more
    parameters = set(inspect.signature(DatabricksBackend.__init__).parameters) - {"self"}
    assert parameters - NOT_SETTINGS == declared
    assert (backend.catalog, backend.schema) == ("c", settings.DEFAULT_SCHEMA)


def test_every_setting_reaches_the_backend():
    config = {
        "host": "https://example.cloud.databricks.com/",
        "catalog": "cat",
        "schema": "sch",
        "account_id": "acc",
        "account_host": "https://accounts.example.com",
        "dbu_price": "0.55",
        "currency": "EUR",
        "code_folder": "/Workspace/Shared/x/",
        "data_root": "/Volumes/cat/sch/data",
        "node_type_id": "m5.large",
        "existing_cluster_id": "0101-abc",
        "spark_version": "16.4.x-cpu-ml-scala2.12",
        "expected_run_seconds": "120",
        "timeout_seconds": "4",
        "warehouse_id": "abc123",
    }
    backend = DatabricksBackend.from_connection(config, {"token": TOKEN})
    assert (backend.host, backend.code_folder) == ("https://example.cloud.databricks.com", "/Workspace/Shared/x")
    assert (backend.dbu_price, backend.currency, backend.expected_run_seconds) == (0.55, "EUR", 120.0)
    for name in (
        "catalog",
        "schema",
        "account_id",
        "account_host",
        "data_root",
        "node_type_id",
        "spark_version",
        "warehouse_id",
    ):
        assert getattr(backend, name) == config[name]
    assert (backend.existing_cluster_id, backend.timeout_seconds) == ("0101-abc", 4.0)


def test_bad_settings_are_permanent_errors():
    for config in ({}, {"host": "https://x.example.com"}):
        with pytest.raises(BackendError) as caught:
            DatabricksBackend.from_connection(config, {} if config else {"token": TOKEN})
        assert caught.value.permanent
    for name, value in (("dbu_price", "cheap"), ("timeout_seconds", "0"), ("expected_run_seconds", "-1")):
        with pytest.raises(BackendError) as caught:
            DatabricksBackend.from_connection({"host": "https://x.example.com", name: value}, {"token": TOKEN})
        assert caught.value.permanent and settings.SETTINGS[name].label in caught.value.message


def test_the_sdk_gives_up_after_the_connection_timeout():
    from apps.backends.sandbox.databricks import DatabricksStandIn

    with DatabricksStandIn(token=TOKEN) as standin:
        default = DatabricksBackend.from_connection({"host": standin.url}, {"token": TOKEN})
        assert default.timeout_seconds == settings.DEFAULT_TIMEOUT_SECONDS == 10
        config = default.client.config  # the client is made from exactly this configuration
        assert (config.retry_timeout_seconds, config.http_timeout_seconds) == (10, 10.0)  # not the SDK's 300 s / 60 s
        quick = DatabricksBackend.from_connection({"host": standin.url, "timeout_seconds": "2.5"}, {"token": TOKEN})
        assert (quick.client.config.retry_timeout_seconds, quick.client.config.http_timeout_seconds) == (3, 2.5)
        assert quick.check()[0]["ok"]


def test_an_unreachable_workspace_is_a_transient_error_within_the_timeout():
    url = f"http://127.0.0.1:{closed_port()}"
    backend = DatabricksBackend.from_connection({"host": url, "timeout_seconds": "1"}, {"token": TOKEN})
    assert backend.client.config.retry_timeout_seconds == 1
    with pytest.raises(BackendError) as caught:
        backend.poll_training("123")
    assert caught.value.permanent is False
    assert "did not answer in time" in caught.value.message
    assert TOKEN not in caught.value.message
