"""The exporter base: an exporter yields rows, the base writes them as CSV or Excel.

As in pretix's exporters, an export is a small class with an ``identifier``, a ``verbose_name``,
an options form and ``iterate_rows()`` (a header row first, then one row per record). Rows are
written as they come, so an export of a million administrations needs the memory of one batch:
``iterate_rows`` reads the database in batches and the writers never hold more than a row
(XlsxWriter's ``constant_memory`` mode flushes each row to disk).

Spreadsheet formula injection (OWASP "CSV Injection"): CSV text cells that begin with = + - @
(or a tab or carriage return) get a leading apostrophe (``config.spreadsheet_cells``); the Excel
writer stores every string as a string (``strings_to_formulas`` off).
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Iterator
from datetime import date, datetime
from typing import ClassVar

import xlsxwriter
from django import forms

from config.spreadsheet_cells import FORMULA_STARTS, neutralise_formula
from dashboards.report_selectors import ReportPeriod, ReportScope

#: How often (in rows) the progress callback is told how far the export got.
PROGRESS_EVERY = 500

CONTENT_TYPES = {
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "pdf": "application/pdf",
    "json": "application/fhir+json",
}


class ExportOptionsForm(forms.Form):
    """The options every export shares: the period (and the team, chosen on the report page)."""

    start = forms.DateField(widget=forms.DateInput(attrs={"type": "date"}))
    end = forms.DateField(widget=forms.DateInput(attrs={"type": "date"}))

    def clean(self):
        cleaned = super().clean()
        if cleaned.get("start") and cleaned.get("end") and cleaned["start"] > cleaned["end"]:
            raise forms.ValidationError("The period must start before it ends.")
        return cleaned


class Exporter:
    """One kind of export. Subclasses set the class attributes and implement ``iterate_rows``
    (tabular exports) or override ``write`` (documents such as PDF or FHIR JSON)."""

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

    def count(self) -> int:
        """How many records the export will have (the progress bar's 100 %)."""
        raise NotImplementedError

    def iterate_rows(self) -> Iterator[list]:
        """Yield the header row, then one list of cell values per record."""
        raise NotImplementedError

    def file_name(self, file_format: str) -> str:
        return (
            f"{self.identifier}-{self.scope.clinic.slug}-"
            f"{self.period.start:%Y%m%d}-{self.period.end:%Y%m%d}.{file_format}"
        )

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
        for row_number, (done, row) in enumerate(self._records()):
            if row_number == 0:
                sheet.write_row(0, 0, row, bold)
                continue
            for column, value in enumerate(row):
                _xlsx_write(sheet, row_number, column, value)
            written = done
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


def _xlsx_write(sheet, row: int, column: int, value) -> None:
    if value is None or (isinstance(value, float) and value != value):
        return
    if isinstance(value, bool):
        sheet.write_boolean(row, column, value)
    elif isinstance(value, int | float):
        sheet.write_number(row, column, value)
    elif isinstance(value, datetime):
        sheet.write_string(row, column, value.isoformat())
    elif isinstance(value, date):
        sheet.write_datetime(row, column, datetime(value.year, value.month, value.day))
    else:
        sheet.write_string(row, column, str(value))
