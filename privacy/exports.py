"""Render a client's data export as JSON or PDF (WeasyPrint, from an HTML template)."""

import json

from django.template.loader import render_to_string


def export_json(data: dict) -> bytes:
    return json.dumps(data, indent=2, ensure_ascii=False).encode()


def export_pdf(data: dict) -> bytes:
    from weasyprint import HTML  # heavy import (pango, fonts): only when a PDF is asked for

    html = render_to_string("privacy/export.html", {"data": data})
    # base_url None: the template references no files, so WeasyPrint fetches nothing at all.
    return HTML(string=html, base_url=None).write_pdf()
