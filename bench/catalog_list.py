"""Catalogue list latency: p50/p95 of the browse page, a search and a filter
under concurrent clients, with 5,000 templates.

    .venv/bin/python bench/catalog_list.py [--templates 5000] [--clients 8] [--requests 400]

Seeds templates into a throwaway SQLite database (or DATABASE_URL if set — on
PostgreSQL the search is served by the trigram index), serves the portal with
gunicorn on a free port and prints figures. Not a test: it asserts nothing.
"""

import argparse
import time
import uuid

from common import PASSWORD, logged_in_session, measure, portal_server, report, setup_django

KINDS = ["train", "tune", "deploy", "batch", "provision", "workspace"]
BACKENDS = [",local,", ",local,sagemaker,", ",local,sagemaker,databricks,", ",databricks,"]
WORDS = ["tabular", "vision", "forecast", "churn", "fraud", "ranking", "nlp", "speech"]


def seed(count: int) -> str:
    from apps.accounts.models import Role
    from apps.accounts.services import team_get_or_create, user_create
    from apps.catalog.models import Tag, Template, TemplateVersion

    teams = [team_get_or_create(name=f"Bench {i}") for i in range(5)]
    user = user_create(
        username=f"bench-{uuid.uuid4().hex[:6]}", password=PASSWORD, role=Role.DATA_SCIENTIST, teams=teams[:2]
    )
    tags = [Tag.objects.get_or_create(name=word)[0] for word in WORDS]
    templates = []
    for i in range(count):
        word = WORDS[i % len(WORDS)]
        name = f"{word.title()} template {i}"
        summary = f"A {word} pipeline number {i}"
        templates.append(
            Template(
                slug=f"bench-{i}",
                name=name,
                summary=summary,
                description=f"Bench template {i} for {word} models.",
                owner=teams[i % len(teams)],
                visibility="team" if i % 3 == 0 else "organisation",
                kind=KINDS[i % len(KINDS)],
                backends=BACKENDS[i % len(BACKENDS)],
                search_text=f"{name} {summary} {word}".lower(),
            )
        )
    Template.objects.bulk_create(templates, batch_size=1000)
    versions = [
        TemplateVersion(template=t, number=1, spec={"name": t.name, "steps": []}, checksum="0" * 64, source="bench")
        for t in templates
    ]
    TemplateVersion.objects.bulk_create(versions, batch_size=1000)
    for template, version in zip(templates, versions, strict=True):
        template.current_version = version
    Template.objects.bulk_update(templates, ["current_version"], batch_size=1000)
    links = [Template.tags.through(template_id=t.pk, tag_id=tags[i % len(tags)].pk) for i, t in enumerate(templates)]
    Template.tags.through.objects.bulk_create(links, batch_size=2000)
    return user.username


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--templates", type=int, default=5000)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--requests", type=int, default=400)
    args = parser.parse_args()

    setup_django()
    started = time.perf_counter()
    username = seed(args.templates)
    print(f"seeded {args.templates} templates in {time.perf_counter() - started:.1f}s")
    with portal_server() as base:
        browser = logged_in_session(base, username)
        measure(base + "/catalog/", browser, 2, 20)  # warm up
        for name, path in [
            ("GET /catalog/ (HTML)", "/catalog/"),
            ("GET /catalog/?q=fraud", "/catalog/?q=fraud"),
            ("GET /catalog/?kind=deploy&tag=nlp", "/catalog/?kind=deploy&tag=nlp"),
            ("GET /catalog/?page=50", "/catalog/?page=50"),
        ]:
            report(name, measure(base + path, browser, args.clients, args.requests))
        browser.headers["HX-Request"] = "true"  # the search box asks for the cards fragment only
        report(
            "GET /catalog/?q=... (htmx)",
            measure(base + "/catalog/?q=template+12", browser, args.clients, args.requests),
        )


if __name__ == "__main__":
    main()
