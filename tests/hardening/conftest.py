import pytest

from tests.catalog.conftest import minimal_spec, shipped_catalog  # noqa: F401 (a fixture)


@pytest.fixture
def mini(db, team):
    """A small catalogue template, slug "mini"."""
    from apps.catalog.services import spec_parse, template_save

    template, _ = template_save(spec=spec_parse(minimal_spec(owner=team.slug), source="mini.yaml"), source="mini.yaml")
    return template
