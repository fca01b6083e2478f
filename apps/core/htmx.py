from django.shortcuts import render


def query_without_page(request) -> str:
    """The list's filters as a query string, for the pager's links to add a page to."""
    query = request.GET.copy()
    query.pop("page", None)
    return query.urlencode()


def render_page_or_partial(request, *, page: str, partial: str, context: dict):
    """htmx requests get the fragment; everyone else (no JS) the full page."""
    return render(request, partial if request.htmx else page, context)
