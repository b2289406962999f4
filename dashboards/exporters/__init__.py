"""Export registry: ``EXPORTERS`` maps an identifier to its class (see ``base.Exporter``)."""

from dashboards.exporters.base import CONTENT_TYPES, Exporter, ExportOptionsForm, ExportRefused
from dashboards.exporters.fhir_bundle import FhirBundleExporter
from dashboards.exporters.outcome_report import OutcomeReportExporter
from dashboards.exporters.pdf_report import PdfReportExporter
from dashboards.exporters.research import ResearchExporter

EXPORTERS: dict[str, type[Exporter]] = {
    exporter.identifier: exporter
    for exporter in (
        OutcomeReportExporter,
        PdfReportExporter,
        ResearchExporter,
        FhirBundleExporter,
    )
}


def exporter_class(identifier: str) -> type[Exporter]:
    """The exporter registered under ``identifier``; KeyError for an unknown one."""
    return EXPORTERS[identifier]


__all__ = [
    "CONTENT_TYPES",
    "EXPORTERS",
    "ExportOptionsForm",
    "ExportRefused",
    "Exporter",
    "exporter_class",
]
