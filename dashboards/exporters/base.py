"""The exporter base: an exporter yields rows, the base writes them as CSV or Excel.

As in pretix's exporters, an export is a small class with an ``identifier``, a ``verbose_name``,
an options form and ``iterate_rows()`` (a header row first, then one row per record). Rows are
written as they come, so an export of a million administrations needs the memory of one batch:
``iterate_rows`` reads the database in batches and the writers never hold more than a row
(XlsxWriter's ``constant_memory`` mode flushes each row to disk).

An .xlsx sheet holds 1,048,576 rows: an export with more records is refused as Excel when it is
asked for and again when it runs (use CSV), and every XlsxWriter return code is checked, so a row
past the limit or a cut string fails the job instead of silently going missing.

Spreadsheet formula injection (OWASP "CSV Injection"): CSV text cells that begin with = + - @
(or a tab or carriage return) get a leading apostrophe (``lib.spreadsheet_cells``); the Excel
writer stores every string as a string (``strings_to_formulas`` off).
"""

from __future__ import annotations

import csv
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from datetime import date, datetime
from typing import ClassVar

import xlsxwriter
from django import forms

from dashboards.forms import ReportPeriodForm
from dashboards.report_selectors import ReportPeriod, ReportScope
from lib.spreadsheet_cells import FORMULA_STARTS, neutralise_formula

#: How often (in rows) the progress callback is told how far the export got.
PROGRESS_EVERY = 500
#: An .xlsx worksheet holds at most this many rows, the header included (Microsoft, "Excel
#: specifications and limits"); XlsxWriter refuses (returns -1 for) any row beyond it.
XLSX_MAX_ROWS = 1_048_576

CONTENT_TYPES = {
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "pdf": "application/pdf",
    # The FHIR version as FHIR's media type parameter states it (see exporters.fhir_bundle).
    "json": "application/fhir+json; fhirVersion=4.0",
}


class ExportRefused(Exception):
    """This export cannot be made as asked. The message is ours (it never quotes the data) and
    is shown to the user as it is, on the page and on the job."""


def xlsx_refusal(records: int) -> str | None:
    """Why ``records`` rows cannot go into one .xlsx sheet, or None when they fit."""
    if records > XLSX_MAX_ROWS - 1:  # the header takes a row
        return (
            f"Too many rows for Excel: this export has {records:,} and an Excel sheet holds "
            f"{XLSX_MAX_ROWS - 1:,} besides its header. Use CSV."
        )
    return None


class ExportOptionsForm(ReportPeriodForm):
    """The options every export shares: the period (and the team, chosen on the report page)."""


class Exporter(ABC):
    """One kind of export. Subclasses set the class attributes and implement ``iterate_rows``
    (tabular exports) or override ``write`` (documents such as PDF or FHIR JSON)."""

    # A template that meets a class calls it; an exporter needs arguments, so the call would fail
    # and the template would print "". Pages get ``export_choices()``; this guards the rest.
    do_not_call_in_templates: ClassVar[bool] = True

    identifier: ClassVar[str]
    verbose_name: ClassVar[str]
    description: ClassVar[str] = ""
    formats: ClassVar[tuple[str, ...]] = ("csv", "xlsx")
    options_form: ClassVar[type[forms.Form]] = ExportOptionsForm

    def __init__(
        self,
        *,
        scope: ReportScope,
        period: ReportPeriod,
        progress: Callable[[int], None] | None = None,
    ):
        self.scope = scope
        self.period = period
        self._progress = progress or (lambda done: None)

    @abstractmethod
    def count(self) -> int:
        """How many records the export will have (the progress bar's 100 %)."""

    def iterate_rows(self) -> Iterator[list]:
        """Yield the header row, then one list of cell values per record (tabular exports;
        document exports override ``write`` and never reach this)."""
        raise TypeError(f"{self.identifier} has no rows: it is written by its own write()")

    def file_name(self, file_format: str) -> str:
        return (
            f"{self.identifier}-{self.scope.clinic.slug}-"
            f"{self.period.start:%Y%m%d}-{self.period.end:%Y%m%d}.{file_format}"
        )

    def refusal(self, file_format: str, *, records: int | None = None) -> str | None:
        """Why this export cannot be written as ``file_format``, or None. ``records``: the
        ``count()`` when the caller has it already."""
        if file_format == "xlsx":
            return xlsx_refusal(self.count() if records is None else records)
        return None

    def write(self, *, file_format: str, path: str) -> int:
        """Write the export to ``path``; return the number of records written."""
        if file_format == "csv":
            return self._write_csv(path)
        if file_format == "xlsx":
            return self._write_xlsx(path)
        raise ValueError(f"{self.identifier} cannot be written as {file_format}")

    def report_progress(self, done: int) -> None:
        self._progress(done)

    def _records(self) -> Iterator[tuple[int, list]]:
        """The data rows with their running count, telling the progress callback as it goes."""
        done = 0
        rows = self.iterate_rows()
        yield -1, next(rows)
        for row in rows:
            done += 1
            if done % PROGRESS_EVERY == 0:
                self.report_progress(done)
            yield done, row
        self.report_progress(done)

    def _write_csv(self, path: str) -> int:
        written = 0
        # utf-8-sig: Excel opens the file as UTF-8 only when it starts with a byte-order mark.
        with open(path, "w", newline="", encoding="utf-8-sig") as handle:
            writer = csv.writer(handle)
            for done, row in self._records():
                writer.writerow([csv_cell(value) for value in row])
                written = max(done, 0)
        return written

    def _write_xlsx(self, path: str) -> int:
        workbook = xlsxwriter.Workbook(
            path,
            {
                "constant_memory": True,
                "strings_to_formulas": False,
                "strings_to_urls": False,
                "strings_to_numbers": False,
                "default_date_format": "yyyy-mm-dd",
            },
        )
        sheet = workbook.add_worksheet(self.verbose_name[:31])
        bold = workbook.add_format({"bold": True})
        written = 0
        try:
            for row_number, (done, row) in enumerate(self._records()):
                if row_number >= XLSX_MAX_ROWS:  # even a row of empty cells would be lost
                    _xlsx_check(-1, row_number)
                if row_number == 0:
                    _xlsx_check(sheet.write_row(0, 0, row, bold), row_number)
                    continue
                for column, value in enumerate(row):
                    _xlsx_check(_xlsx_write(sheet, row_number, column, value), row_number)
                written = done
        finally:
            workbook.close()
        return written


def csv_cell(value):
    """A CSV cell: numbers as they are, text neutralised against formula injection.

    Called once per cell of a million-row export, so the common types are checked first."""
    kind = type(value)
    if kind is str:
        return neutralise_formula(value) if value[:1] in _FORMULA_FIRST else value
    if kind is float:
        return "" if value != value else value  # NaN is an empty cell
    if kind is int:
        return value
    if value is None:
        return ""
    if kind is bool:
        return "true" if value else "false"
    if isinstance(value, date | datetime):
        return value.isoformat()
    if isinstance(value, int | float):
        return value
    return neutralise_formula(value)


_FORMULA_FIRST = frozenset(FORMULA_STARTS)


def _xlsx_check(result: int, row: int) -> None:
    """XlsxWriter does not raise: it returns -1 for a cell outside the sheet (a row past the
    limit is dropped) and -2 for a string cut to 32,767 characters. Either loses data silently,
    so the export fails instead."""
    if result == -1:
        raise ExportRefused(
            f"Too many rows for Excel: row {row + 1:,} is past the sheet's limit of "
            f"{XLSX_MAX_ROWS:,} rows. Use CSV."
        )
    if result == -2:
        raise ExportRefused(
            f"A cell in row {row + 1:,} is longer than Excel's 32,767 characters. Use CSV."
        )
    if result:
        raise ExportRefused(f"Excel could not store row {row + 1:,} (code {result}). Use CSV.")


def _xlsx_write(sheet, row: int, column: int, value) -> int:
    """Write one cell; returns XlsxWriter's result (0 when stored, see ``_xlsx_check``)."""
    if value is None or (isinstance(value, float) and value != value):
        return 0
    if isinstance(value, bool):
        return sheet.write_boolean(row, column, value)
    if isinstance(value, int | float):
        return sheet.write_number(row, column, value)
    if isinstance(value, datetime):
        return sheet.write_string(row, column, value.isoformat())
    if isinstance(value, date):
        return sheet.write_datetime(row, column, datetime(value.year, value.month, value.day))
    return sheet.write_string(row, column, str(value))
