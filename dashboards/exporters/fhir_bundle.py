"""FHIR R4 export: a ``Bundle`` (type ``collection``) with one ``QuestionnaireResponse`` per
scored form, and for instruments whose total has a LOINC code an ``Observation`` of the total
derived from it (PHQ-9 44261-6, GAD-7 70274-6; CLINICAL.md §1).

The questionnaire is named by its LOINC panel where one exists (``http://loinc.org/q/44249-1``
for the PHQ-9, 69737-5 for the GAD-7), otherwise by this installation's canonical URL. Answers
are the item values as given (``valueInteger``; ``valueDecimal`` for visual-analogue items);
item ``linkId``s are those of the instrument
definition. The subject is the client's pseudonymous label, as an identifier (no name, no
contact data). The file is written entry by entry, so its size does not bound the memory used.

Which FHIR version: R4 (4.0.1), the release EHRs exchange today. A Bundle has no ``fhirVersion``
element (that lives in a CapabilityStatement), so the file says it twice where FHIR provides for
it: ``Bundle.meta.profile`` names the R4 Bundle definition by its versioned canonical URL, and the
download's media type carries ``fhirVersion=4.0`` (FHIR R4 §3.1.0.3 "Version parameter"). Every
element written here is the same in R4 and R4B; the tests validate the file with
``fhir.resources.R4B`` (the package has no 4.0.1 models; its default is R5, which this is not).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator

from django.conf import settings
from django.utils import timezone

from dashboards.exporters.base import PROGRESS_EVERY, Exporter
from dashboards.report_selectors import episode_batches
from outcomes.models import Administration
from outcomes.selectors import instrument_for

LOINC = "http://loinc.org"
FHIR_VERSION = "4.0.1"
#: The versioned canonical URL of the base Bundle definition: this file is an R4 Bundle.
BUNDLE_PROFILE = f"http://hl7.org/fhir/StructureDefinition/Bundle|{FHIR_VERSION}"
#: Episodes read at a time (their forms, a few dozen each, are held in memory together).
BATCH = 500


class FhirBundleExporter(Exporter):
    identifier = "fhir"
    verbose_name = "Health record exchange (FHIR R4)"
    description = (
        "Every form scored in the period as FHIR R4 QuestionnaireResponse resources, with the "
        "totals as LOINC-coded Observations, for an electronic health record."
    )
    formats = ("json",)

    def _administrations(self):
        return Administration.objects.filter(
            self.period.timestamps_q("administered_at", self.scope.clinic.timezone),
            episode__in=self.scope.episodes().values("pk"),
            valid=True,
        )

    def count(self) -> int:
        return self._administrations().count()

    def write(self, *, file_format: str, path: str) -> int:
        if file_format != "json":
            raise ValueError("the FHIR export is written as JSON only")
        done = 0
        with open(path, "w", encoding="utf-8") as handle:
            handle.write(
                '{"resourceType": "Bundle", '
                f'"meta": {{"profile": [{json.dumps(BUNDLE_PROFILE)}]}}, "type": "collection", '
                f'"timestamp": {json.dumps(timezone.now().isoformat())}, "entry": ['
            )
            first = True
            for entry in self.entries():
                handle.write(("" if first else ",\n") + json.dumps(entry, separators=(",", ":")))
                first = False
                if entry["resource"]["resourceType"] == "QuestionnaireResponse":
                    done += 1
                    if done % PROGRESS_EVERY == 0:
                        self.report_progress(done)
            handle.write("]}\n")
        self.report_progress(done)
        return done

    def entries(self) -> Iterator[dict]:
        instruments: dict[str, object] = {}
        subject_system = f"{settings.SITE_URL}/clinics/{self.scope.clinic.slug}/client-labels"
        rows = (
            self._administrations()
            .order_by("episode_id", "administered_at")
            .values_list(
                "pk", "episode__client__label", "instrument", "administered_at", "answers",
                "total",
            )
        )  # fmt: skip
        for pk, label, code, administered_at, answers, total in _read_in_batches(rows):
            instrument = instruments.get(code)
            if instrument is None:
                instrument = instruments[code] = instrument_for(self.scope.clinic, code)
            subject = {"identifier": {"system": subject_system, "value": label}}
            response_url = f"urn:uuid:{uuid.uuid4()}"
            authored = administered_at.isoformat()
            yield {
                "fullUrl": response_url,
                "resource": _questionnaire_response(
                    instrument, pk, subject, authored, answers or []
                ),
            }
            if instrument.loinc_total and total is not None:
                yield {
                    "fullUrl": f"urn:uuid:{uuid.uuid4()}",
                    "resource": _total_observation(
                        instrument, subject, authored, total, response_url
                    ),
                }


def _read_in_batches(rows) -> Iterator[tuple]:
    """Each batch is read whole: the caller writes progress between rows (see episode_batches)."""
    for batch in episode_batches(rows, episodes_per_batch=BATCH):
        yield from list(batch)


def questionnaire_url(instrument) -> str:
    if instrument.loinc_panel:
        return f"{LOINC}/q/{instrument.loinc_panel}"
    return f"{settings.SITE_URL}/fhir/Questionnaire/{instrument.code}|{instrument.version}"


def _questionnaire_response(instrument, pk, subject, authored, answers) -> dict:
    items = []
    for item, value in zip(instrument.items, answers, strict=False):
        if value is None:
            continue
        # A visual-analogue mark (ORS 4.2) is a decimal; int() would silently floor it.
        answer = {"valueDecimal": value} if item.continuous else {"valueInteger": int(value)}
        entry = {"linkId": item.link_id, "answer": [answer]}
        if instrument.has_item_text and item.text:
            entry["text"] = item.text
        items.append(entry)
    return {
        "resourceType": "QuestionnaireResponse",
        "identifier": {
            "system": f"{settings.SITE_URL}/fhir/administration",
            "value": str(pk),
        },
        "questionnaire": questionnaire_url(instrument),
        "status": "completed",
        "subject": subject,
        "authored": authored,
        "item": items,
    }


def _total_observation(instrument, subject, authored, total, response_url) -> dict:
    return {
        "resourceType": "Observation",
        "status": "final",
        "category": [
            {
                "coding": [
                    {
                        "system": "http://terminology.hl7.org/CodeSystem/observation-category",
                        "code": "survey",
                    }
                ]
            }
        ],
        "code": {
            "coding": [{"system": LOINC, "code": instrument.loinc_total}],
            "text": f"{instrument.name} total score",
        },
        "subject": subject,
        "effectiveDateTime": authored,
        "valueQuantity": {
            "value": total,
            "system": "http://unitsofmeasure.org",
            "code": "{score}",
        },
        "derivedFrom": [{"reference": response_url}],
    }
