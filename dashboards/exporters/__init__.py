"""Export registry: ``EXPORTERS`` maps an identifier to its class (see ``base.Exporter``)."""

from dashboards.exporters.base import CONTENT_TYPES, Exporter, ExportOptionsForm
from dashboards.exporters.outcome_report import OutcomeReportExporter

EXPORTERS: dict[str, type[Exporter]] = {
    exporter.identifier: exporter for exporter in (OutcomeReportExporter,)
}


def exporter_class(identifier: str) -> type[Exporter]:
    """The exporter registered under ``identifier``; KeyError for an unknown one."""
    return EXPORTERS[identifier]


__all__ = ["CONTENT_TYPES", "EXPORTERS", "ExportOptionsForm", "Exporter", "exporter_class"]
