import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = ROOT / "catalog"

MINIMAL = """
apiVersion: atrium/v1
slug: {slug}
name: {name}
owner: {owner}
visibility: {visibility}
kind: train
tags: [tabular]
backends: [local]
description: A test template.
parameters:
  type: object
  required: [model_name]
  properties:
    model_name: {{type: string, pattern: "^[a-z0-9-]+$", maxLength: 50}}
    n_estimators: {{type: integer, minimum: 1, maximum: 50, default: 5}}
steps:
  - id: train
    action: train
    input:
      model_name: ${{{{ parameters.model_name }}}}
      dataset: iris
      algorithm: random_forest
      hyperparameters: {{n_estimators: "${{{{ parameters.n_estimators }}}}"}}
"""


def minimal_spec(slug="mini", name="Mini", owner="alpha", visibility="organisation") -> str:
    return textwrap.dedent(MINIMAL).format(slug=slug, name=name, owner=owner, visibility=visibility)


@pytest.fixture
def catalog_dir(tmp_path):
    folder = tmp_path / "catalog"
    folder.mkdir()
    return folder


@pytest.fixture
def shipped_catalog(db, team):
    from apps.catalog.services import catalog_load

    results = catalog_load(folder=SHIPPED)
    assert all(not r.errors for r in results), [str(r) for r in results if r.errors]
    return {r.template.slug: r.template for r in results}


@pytest.fixture
def make_template(db, team, catalog_dir):
    from apps.catalog.services import spec_parse, template_save

    def make(slug="mini", name="Mini", owner=None, visibility="organisation", text=None):
        text = text or minimal_spec(slug=slug, name=name, owner=owner or team.slug, visibility=visibility)
        template, _ = template_save(spec=spec_parse(text, source=f"{slug}.yaml"), source=f"{slug}.yaml")
        return template

    return make
