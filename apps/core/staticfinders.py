"""plotly.js from the installed plotly package, as one static file.

Only ``vendor/plotly/plotly.min.js`` is found (not the package's datasets or
its 5 MB widget bundle), so collectstatic copies it into STATIC_ROOT where the
production storage (WhiteNoise's compressed manifest) names it by content hash
and pre-compresses it: served gzip/brotli with a year's max-age."""

from __future__ import annotations

from pathlib import Path

import plotly
from django.contrib.staticfiles.finders import BaseFinder
from django.core.files.storage import FileSystemStorage

PLOTLY_JS = "vendor/plotly/plotly.min.js"
SOURCE = Path(plotly.__file__).parent / "package_data"


class PlotlyFinder(BaseFinder):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.storage = FileSystemStorage(location=str(SOURCE))
        self.storage.prefix = "vendor/plotly"

    def check(self, **kwargs):
        return []

    def find(self, path, find_all=False, **kwargs):
        if path != PLOTLY_JS or not (SOURCE / "plotly.min.js").exists():
            return [] if find_all else None
        match = str(SOURCE / "plotly.min.js")
        return [match] if find_all else match

    def list(self, ignore_patterns):
        if (SOURCE / "plotly.min.js").exists():
            yield "plotly.min.js", self.storage
