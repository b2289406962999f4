"""Export registry: ``EXPORTERS`` maps an identifier to its class (see ``base.Exporter``)."""

from dataclasses import dataclass

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


#: How a file format is named to people (buttons, the list of exports).
FORMAT_LABELS = {"csv": "CSV", "xlsx": "Excel", "pdf": "PDF", "json": "FHIR JSON"}


@dataclass(frozen=True)
class ExportChoice:
    """One export as the report page offers it.

    Plain data on purpose: Django's templates call whatever is callable, and an exporter class
    called with no arguments raises, which the template swallows, rendering an empty card."""

    identifier: str
    title: str
    description: str
    #: (format, label) pairs, in the order the buttons appear.
    formats: tuple[tuple[str, str], ...]


def export_choices() -> list[ExportChoice]:
    """Every registered export with its name, description and formats in words."""
    return [
        ExportChoice(
            identifier=identifier,
            title=exporter.verbose_name,
            description=exporter.description,
            formats=tuple((fmt, format_label(fmt)) for fmt in exporter.formats),
        )
        for identifier, exporter in EXPORTERS.items()
    ]


def export_title(identifier: str) -> str:
    """The name of the export registered under ``identifier`` (the identifier if none is)."""
    exporter = EXPORTERS.get(identifier)
    return exporter.verbose_name if exporter else identifier


def format_label(file_format: str) -> str:
    return FORMAT_LABELS.get(file_format, file_format.upper())


def exporter_class(identifier: str) -> type[Exporter]:
    """The exporter registered under ``identifier``; KeyError for an unknown one."""
    return EXPORTERS[identifier]


__all__ = [
    "CONTENT_TYPES",
    "EXPORTERS",
    "FORMAT_LABELS",
    "ExportChoice",
    "ExportOptionsForm",
    "ExportRefused",
    "Exporter",
    "export_choices",
    "export_title",
    "exporter_class",
    "format_label",
]
