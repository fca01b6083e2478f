"""Row URLs from a cached pattern are exactly what reverse() gives."""

import uuid

import pytest
from django.urls import resolve, reverse

from apps.core.links import url_for


@pytest.mark.parametrize(
    "name,args",
    [
        ("registry:model", [uuid.uuid4()]),
        ("registry:version", [uuid.uuid4(), "12"]),
        ("registry:version", [uuid.uuid4(), "1.0 beta+rc@x"]),  # quoted as reverse() quotes
        ("runs:detail", [uuid.uuid4()]),
        ("catalog:detail", ["train-tabular_v2"]),
    ],
)
def test_url_for_is_reverse(name, args):
    assert url_for(name, *args) == reverse(name, args=args)
    assert resolve(url_for(name, *args)).url_name == name.split(":")[1]


def test_each_object_gets_its_own_url():
    first, second = uuid.uuid4(), uuid.uuid4()
    assert url_for("runs:detail", first) != url_for("runs:detail", second)
    assert str(second) in url_for("runs:detail", second)
