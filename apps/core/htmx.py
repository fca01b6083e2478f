from django.shortcuts import render


def render_page_or_partial(request, *, page: str, partial: str, context: dict):
    """htmx requests get the fragment; everyone else (no JS) the full page."""
    return render(request, partial if request.htmx else page, context)
