"""Import clients from a CSV file: every row checked first, then all created in one transaction,
or none when any row is invalid (with each invalid row's errors, by line of the file).

Used by ``manage.py import_clients`` and the API's import endpoint; the rules themselves are the
ones of ``clients.services.clients_bulk_create``.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date

from clients.models import Clinic
from clients.services import (
    BulkClientsInvalid,
    ClientDataInvalid,
    NewClient,
    clients_bulk_create,
    staff_member_named,
)

REQUIRED_COLUMNS = ("label", "therapist")
OPTIONAL_COLUMNS = ("email", "name", "timezone", "language", "started_on")
# A safety bound for one upload; larger lists go in several files.
MAX_ROWS = 20_000


class ImportInvalid(ValueError):
    """The file cannot be imported. ``file_errors`` are about the file as a whole; ``row_errors``
    lists (line, {column: messages}) for each invalid row. Nothing was created."""

    def __init__(self, *, file_errors=(), row_errors=()):
        self.file_errors = list(file_errors)
        self.row_errors = list(row_errors)
        super().__init__("; ".join(self.file_errors) or f"{len(self.row_errors)} invalid row(s)")

    def as_dict(self) -> dict:
        if self.file_errors:
            return {"file": self.file_errors}
        return {"rows": [{"line": line, "errors": errors} for line, errors in self.row_errors]}


@dataclass(frozen=True)
class ImportResult:
    count: int
    dry_run: bool


def _text_of(stream) -> str:
    raw = stream.read()
    if isinstance(raw, str):
        return raw.removeprefix("\ufeff")
    try:
        return raw.decode("utf-8-sig")  # Excel writes a byte-order mark
    except UnicodeDecodeError as error:
        raise ImportInvalid(file_errors=["The file is not UTF-8 text."]) from error


def _new_client_from_row(*, clinic: Clinic, row: dict[str, str], staff: dict) -> NewClient:
    extra: dict[str, list[str]] = {}
    username = (row.get("therapist") or "").strip()
    if username and username not in staff:  # a few therapists carry many rows: look up once
        staff[username] = staff_member_named(clinic=clinic, username=username)
    therapist = staff.get(username)
    if username and therapist is None:
        extra["therapist"] = ["No staff member of this clinic has this username."]
    started_on = None
    started_text = (row.get("started_on") or "").strip()
    if started_text:
        try:
            started_on = date.fromisoformat(started_text)
        except ValueError:
            extra["started_on"] = ["Use the form YYYY-MM-DD."]
    return NewClient(
        label=(row.get("label") or "").strip(),
        therapist=therapist,
        email=(row.get("email") or "").strip(),
        name=(row.get("name") or "").strip(),
        timezone=(row.get("timezone") or "").strip() or "Europe/London",
        language=(row.get("language") or "").strip() or "en",
        started_on=started_on,
        extra_errors=extra,
    )


def clients_import_csv(
    *,
    actor,
    clinic: Clinic,
    stream,
    dry_run: bool = False,
    request=None,
    progress: Callable[[Iterable, str], Iterable] | None = None,
) -> ImportResult:
    text = _text_of(stream)
    try:
        reader = csv.DictReader(io.StringIO(text, newline=""))
        columns = [name.strip() for name in reader.fieldnames or []]
        missing = [name for name in REQUIRED_COLUMNS if name not in columns]
        if missing:
            raise ImportInvalid(
                file_errors=[f"The header row lacks the column(s): {', '.join(missing)}."]
            )
        unknown = [c for c in columns if c not in REQUIRED_COLUMNS + OPTIONAL_COLUMNS]
        if unknown:
            raise ImportInvalid(file_errors=[f"Unknown column(s): {', '.join(unknown)}."])
        reader.fieldnames = columns
        lines, new_clients, staff = [], [], {}
        for row in reader:
            if reader.line_num > MAX_ROWS + 1:
                raise ImportInvalid(file_errors=[f"At most {MAX_ROWS} rows per file."])
            if None in row:
                raise ImportInvalid(
                    file_errors=[f"Line {reader.line_num} has more cells than the header."]
                )
            lines.append(reader.line_num)
            new_clients.append(_new_client_from_row(clinic=clinic, row=row, staff=staff))
    except csv.Error as error:
        raise ImportInvalid(file_errors=[f"Not a readable CSV file: {error}."]) from error
    if not new_clients:
        raise ImportInvalid(file_errors=["The file has no rows under its header."])
    try:
        clients_bulk_create(
            actor=actor,
            clinic=clinic,
            new_clients=new_clients,
            dry_run=dry_run,
            request=request,
            progress=progress,
        )
    except BulkClientsInvalid as error:
        raise ImportInvalid(
            row_errors=[(lines[index], errors) for index, errors in error.row_errors.items()]
        ) from error
    except ClientDataInvalid as error:
        raise ImportInvalid(file_errors=[str(error)]) from error
    return ImportResult(count=len(new_clients), dry_run=dry_run)
