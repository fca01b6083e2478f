"""The SageMaker connection's settings are declared once, and the code reads no other."""

import re
from pathlib import Path

import pytest

from apps.backends.base import ConnectionSetting
from apps.backends.sagemaker import settings as settings_module
from apps.backends.sagemaker.backend import SageMakerBackend
from apps.backends.sagemaker.settings import CONNECTION_SETTINGS, Settings

PACKAGE = Path(settings_module.__file__).parent
# every way the package reads a setting: Settings' get / list / require / secret with a literal name
READS = re.compile(r"""(?:settings|self)\.(get|list|require|secret)\(\s*["'](\w+)["']""")


def names_read(secret: bool) -> set[str]:
    found = set()
    for path in PACKAGE.glob("*.py"):
        for method, name in READS.findall(path.read_text()):
            if (method == "secret") is secret:
                found.add(name)
    return found


def test_the_backend_declares_its_settings():
    assert SageMakerBackend.connection_settings is CONNECTION_SETTINGS
    assert all(isinstance(s, ConnectionSetting) and s.label for s in CONNECTION_SETTINGS)
    names = [s.name for s in CONNECTION_SETTINGS]
    assert len(names) == len(set(names))


def test_every_setting_the_code_reads_is_declared():
    declared = {s.name for s in CONNECTION_SETTINGS if not s.secret}
    secrets = {s.name for s in CONNECTION_SETTINGS if s.secret}
    read = names_read(secret=False)
    assert {"region", "output_s3_uri", "execution_role_arn", "rollback_alarms", "neo_framework"} <= read
    assert read <= declared, read - declared
    assert names_read(secret=True) == secrets == {"access_key_id", "secret_access_key", "session_token"}
    assert declared - read == set(), "declared but never read"
    # nothing but Settings reads the raw configuration
    for path in PACKAGE.glob("*.py"):
        if path.name == "settings.py":
            continue
        assert not re.search(r"\bconfig\.get\(|\.config\[", path.read_text()), path.name


def test_required_settings_are_marked():
    required = {s.name for s in CONNECTION_SETTINGS if s.required}
    assert required == {"region", "execution_role_arn", "output_s3_uri"}
    assert not any(s.secret and s.required for s in CONNECTION_SETTINGS)


def test_an_undeclared_name_is_refused_and_empty_means_unset():
    settings = Settings({"bake_seconds": "", "rollback_alarms": "a, b"}, {"access_key_id": "AKIA"})
    with pytest.raises(KeyError):
        settings.get("not_a_setting")
    with pytest.raises(KeyError):
        settings.get("access_key_id")  # a secret is read as a secret
    assert settings.get("bake_seconds", 300) == 300  # an empty form field
    assert settings.list("rollback_alarms") == ["a", "b"]
    assert settings.list("cost_group_by", ("team",)) == ["team"]
    assert "AKIA" not in repr(settings) and "AKIA" not in repr(SageMakerBackend({}, {"access_key_id": "AKIA"}))
