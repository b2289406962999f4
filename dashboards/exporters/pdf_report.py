"""The report page as a PDF: the same template body as the page, charts as static SVG.

WeasyPrint renders HTML and CSS without a browser and runs no JavaScript, so the plotly charts of
the page are replaced by SVG drawn here on the server (``report_charts``); nothing is fetched from
the network (the fetcher refuses every URL: the document is self-contained).
"""

from __future__ import annotations

from pathlib import Path

from django.contrib.staticfiles import finders
from django.template.loader import render_to_string
from django.utils import timezone

from dashboards import report_charts
from dashboards.exporters.base import Exporter
from dashboards.report_selectors import report_frames
from dashboards.reports import clinic_report


def _no_network(url, *args, **kwargs):
    raise ValueError("the PDF report loads nothing from outside the document")


class PdfReportExporter(Exporter):
    identifier = "pdf_report"
    verbose_name = "Printable outcome report"
    description = "The report above as a printable document, with its tables and charts."
    formats = ("pdf",)

    def count(self) -> int:
        return 1

    def write(self, *, file_format: str, path: str) -> int:
        from weasyprint import HTML  # imported here: it loads Pango, which only this export needs

        if file_format != "pdf":
            raise ValueError("the PDF report is written as PDF only")
        report = clinic_report(
            report_frames(scope=self.scope, period=self.period),
            start=self.period.start,
            end=self.period.end,
        )
        html = render_to_string(
            "dashboards/reports/report_pdf.html",
            {
                "report": report,
                "scope": self.scope,
                "period": self.period,
                "pdf": True,
                "generated_at": timezone.now(),
                "stylesheet": Path(finders.find("css/reports.css")).read_text(),
                "svgs": {
                    "rates": report_charts.rates_svg(report),
                    "funnel": report_charts.funnel_svg(report),
                },
            },
        )
        HTML(string=html, url_fetcher=_no_network).write_pdf(path)
        self.report_progress(1)
        return 1
