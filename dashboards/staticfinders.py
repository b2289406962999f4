"""Serve plotly.js from the installed plotly package, offline: no CDN, nothing copied into git.

The Python package ships the matching ``plotly.min.js``; this finder exposes that one file as
``vendor/plotly.min.js`` to ``{% static %}``, ``collectstatic`` and WhiteNoise, so the version of
the script always matches the version of the package that builds the figures.
"""

from pathlib import Path

from django.contrib.staticfiles import utils
from django.contrib.staticfiles.finders import BaseFinder
from django.core.checks import Error
from django.core.files.storage import FileSystemStorage

PREFIX = "vendor"
FILENAME = "plotly.min.js"


def plotly_package_data() -> Path:
    import plotly

    return Path(plotly.__file__).resolve().parent / "package_data"


class PlotlyFinder(BaseFinder):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.storage = FileSystemStorage(location=str(plotly_package_data()))
        # collectstatic and WhiteNoise read the prefix from the storage, as for STATICFILES_DIRS.
        self.storage.prefix = PREFIX

    def check(self, **kwargs):
        if not (plotly_package_data() / FILENAME).is_file():
            return [Error(f"{FILENAME} is missing from the installed plotly package.",
                          id="dashboards.E001")]  # fmt: skip
        return []

    def find(self, path, find_all=False, **kwargs):
        if path.replace("\\", "/") != f"{PREFIX}/{FILENAME}":
            return [] if (find_all or kwargs.get("all")) else None
        match = str(plotly_package_data() / FILENAME)
        return [match] if (find_all or kwargs.get("all")) else match

    def list(self, ignore_patterns):
        for path in utils.get_files(self.storage, ignore_patterns):
            if path == FILENAME:
                yield path, self.storage
