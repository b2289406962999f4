"""Custom instruments and licensed text packs, through the commands and the Django admin.

FHIR fixtures: the LHNCBC lforms PHQ-9, the uwcirg GAD-7 and HL7's PHQ-9 example Questionnaires
(tests/fixtures/clinical/fhir/SOURCES.md). Text packs carry placeholder wording only: no licensed
item text belongs in this repository, not even in tests.
"""

import copy
import json
from pathlib import Path

import pytest
from django.contrib.auth.models import Permission
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import CommandError, call_command
from django.urls import reverse

from audit.models import AuditEvent
from clients.checkins import PlanInvalid, plan_set
from measures.instruments import get_instrument, instrument_to_dict
from measures.scoring import score_answers
from outcomes.instrument_services import (
    InstrumentRefused,
    instrument_define,
    instrument_import_fhir,
    text_pack_load,
)
from outcomes.models import InstrumentDefinition
from outcomes.selectors import (
    instrument_for,
    instrument_send_block_reason,
    instruments_available,
    instruments_for,
)
from outcomes.services import administration_record

pytestmark = pytest.mark.django_db

FHIR = Path(__file__).resolve().parents[1] / "fixtures" / "clinical" / "fhir"
PHQ9_FILE = FHIR / "lhncbc-lforms_R4_phq9.json"
GAD7_FILE = FHIR / "uwcirg-asbi-screening-app_1_Questionnaire-GAD7.json"
FIXTURES = [
    pytest.param(PHQ9_FILE, "phq9_lforms", 10, 9, id="lforms-phq9"),
    pytest.param(GAD7_FILE, "gad7_uwcirg", 7, 7, id="uwcirg-gad7"),
]
# PHQ-9's risk item (44260-8) is known by LOINC; GAD-7 has none, which only an admin can state.
SENDABLE_AT_ONCE = {"phq9_lforms": True, "gad7_uwcirg": False}


def core10_pack(**overrides):
    pack = {
        "instrument": "core10",
        "version": "1",
        "licence_holder": "Example licence holder",
        "instructions": "Placeholder instructions",
        "items": [
            {
                "number": number,
                "text": f"Placeholder statement {number}",
                "options": ["never", "rarely", "sometimes", "often", "always"],
            }
            for number in range(1, 11)
        ],
    }
    pack.update(overrides)
    return pack


def write_json(tmp_path, name, data) -> str:
    path = tmp_path / name
    path.write_text(json.dumps(data), encoding="utf-8")
    return str(path)


def command_error(*args) -> str:
    with pytest.raises(CommandError) as refused:
        call_command(*args)
    return str(refused.value)


def tiny_definition(**overrides):
    scale = [{"value": 0, "label": "Never"}, {"value": 1, "label": "Sometimes"}]
    definition = {
        "code": "sleep_check",
        "name": "Sleep check",
        "version": "1",
        "direction": "lower_is_better",
        "bands": [{"low": 0, "high": 1, "label": "low"}, {"low": 2, "high": 2, "label": "high"}],
        "caseness_cutoff": 2,
        "items": [
            {"number": 1, "link_id": "q1", "text": "Trouble falling asleep", "options": scale},
            {"number": 2, "link_id": "q2", "text": "Waking too early", "options": scale},
        ],
    }
    definition.update(overrides)
    return definition


# --- manage.py import_questionnaire ------------------------------------------------------------


@pytest.mark.parametrize(("path", "code", "n_items", "n_scored"), FIXTURES)
def test_the_command_imports_each_fixture_questionnaire_for_one_clinic(
    cast, path, code, n_items, n_scored
):
    call_command("import_questionnaire", str(path), "--code", code, "--clinic", cast.clinic.slug)

    row = InstrumentDefinition.objects.get(code=code)
    assert (row.clinic, row.source, row.version) == (cast.clinic, "fhir", "1")
    instrument = instrument_for(cast.clinic, code)
    assert len(instrument.items) == n_items
    assert len(instrument.scored_items) == n_scored
    assert instrument.can_be_sent is SENDABLE_AT_ONCE[code]
    reason = instrument_send_block_reason(cast.clinic, code)
    assert (reason is None) is SENDABLE_AT_ONCE[code]
    assert code in instruments_available(cast.clinic)
    assert code not in instruments_available(cast.other_clinic)
    with pytest.raises(KeyError):
        instrument_for(cast.other_clinic, code)
    event = AuditEvent.objects.get(action="instrument.import_fhir")
    assert (event.object_id, event.clinic) == (str(row.pk), cast.clinic)
    assert event.details["code"] == code


def test_an_imported_questionnaire_scores_forms_through_the_single_door(cast):
    call_command("import_questionnaire", str(GAD7_FILE), "--code", "gad7_uwcirg")  # every clinic

    recorded = administration_record(
        episode=cast.episode, instrument_code="gad7_uwcirg", answers=[1, 2, 3, 0, 1, 2, 3]
    )
    assert recorded.administration.total == 12
    assert recorded.administration.instrument == "gad7_uwcirg"


def test_a_questionnaire_cannot_replace_a_built_in_instrument(cast):
    message = command_error("import_questionnaire", str(PHQ9_FILE), "--code", "phq9")
    assert "built-in" in message and "phq9_fhir" in message
    assert not InstrumentDefinition.objects.exists()
    # The clinic's PHQ-9 still has its risk item.
    assert instrument_for(cast.clinic, "phq9").critical_items


def test_a_file_that_is_not_json_is_refused_with_where_it_broke(cast, tmp_path):
    path = tmp_path / "broken.json"
    path.write_text('{"resourceType": "Questionnaire",\n "item": [}', encoding="utf-8")
    message = command_error("import_questionnaire", str(path), "--code", "broken")
    assert "nothing was stored" in message
    assert "not valid JSON" in message and "line 2" in message
    assert not InstrumentDefinition.objects.exists()
    assert not AuditEvent.objects.filter(action__startswith="instrument.").exists()


def test_a_malformed_questionnaire_is_refused_naming_each_item_and_problem(cast, tmp_path):
    questionnaire = json.loads(PHQ9_FILE.read_text(encoding="utf-8"))
    questionnaire["item"][2]["type"] = "string"
    questionnaire["item"][4]["repeats"] = True
    path = write_json(tmp_path, "malformed.json", questionnaire)

    message = command_error("import_questionnaire", path, "--code", "phq9_lforms")

    assert "item '/44259-0': type 'string' cannot be scored" in message
    assert "item '/44251-7': allows several answers (repeats)" in message
    assert not InstrumentDefinition.objects.exists()


def test_an_unknown_clinic_slug_is_refused(cast):
    message = command_error(
        "import_questionnaire", str(GAD7_FILE), "--code", "gad7_x", "--clinic", "nowhere"
    )
    assert "No clinic with slug 'nowhere'" in message and cast.clinic.slug in message


def test_the_same_code_and_version_is_not_imported_twice(cast):
    args = ("import_questionnaire", str(GAD7_FILE), "--code", "gad7_uwcirg")
    call_command(*args, "--clinic", cast.clinic.slug)
    message = command_error(*args, "--clinic", cast.clinic.slug)
    assert "already has 'gad7_uwcirg' version 1" in message
    call_command(*args, "--clinic", cast.clinic.slug, "--definition-version", "2")
    assert InstrumentDefinition.objects.filter(code="gad7_uwcirg").count() == 2
    assert instrument_for(cast.clinic, "gad7_uwcirg").version == "2"


# --- manage.py load_text_pack ------------------------------------------------------------------


def test_without_a_text_pack_core10_cannot_be_sent_and_the_reason_says_how_to_fix_it(cast):
    reason = instrument_send_block_reason(cast.clinic, "core10")
    assert "licensed" in reason and "manage.py load_text_pack" in reason
    assert not instrument_for(cast.clinic, "core10").can_be_sent
    with pytest.raises(PlanInvalid):
        plan_set(episode=cast.episode, instruments=["phq9", "core10"])


def test_loading_a_text_pack_shows_its_text_and_makes_the_instrument_sendable(cast, tmp_path):
    path = write_json(tmp_path, "core10.json", core10_pack())

    call_command("load_text_pack", path, "--clinic", cast.clinic.slug)

    instrument = instrument_for(cast.clinic, "core10")
    assert instrument.can_be_sent
    assert instrument.item(3).text == "Placeholder statement 3"
    assert instrument.item(3).options[4].label == "always"
    assert "Example licence holder" in instrument.licence
    assert instrument_send_block_reason(cast.clinic, "core10") is None
    # Wording only: scoring, reverse keying and the risk item are the definition's.
    answers = [1, 4, 4, 1, 1, 2, 1, 1, 1, 1]
    assert score_answers(instrument, answers) == score_answers(get_instrument("core10"), answers)
    plan = plan_set(episode=cast.episode, instruments=["phq9", "core10"])
    assert plan.instruments == ["phq9", "core10"]
    # Another clinic has not loaded it.
    assert not instrument_for(cast.other_clinic, "core10").can_be_sent
    row = InstrumentDefinition.objects.get()
    assert (row.source, row.code, row.version, row.clinic) == (
        "text_pack",
        "core10",
        "1",
        cast.clinic,
    )
    assert AuditEvent.objects.filter(
        action="instrument.text_pack_load", clinic=cast.clinic
    ).exists()


def test_an_installation_wide_pack_serves_every_clinic(cast, tmp_path):
    call_command("load_text_pack", write_json(tmp_path, "p.json", core10_pack()))
    assert instrument_for(cast.clinic, "core10").can_be_sent
    assert instrument_for(cast.other_clinic, "core10").can_be_sent


def test_an_incomplete_pack_is_refused_naming_the_items_and_nothing_is_stored(cast, tmp_path):
    pack = core10_pack()
    del pack["items"][9]
    pack["items"][1]["options"] = ["never", "always"]
    pack["items"][2]["text"] = " "
    path = write_json(tmp_path, "core10.json", pack)

    message = command_error("load_text_pack", path, "--clinic", cast.clinic.slug)

    assert "Text pack refused; nothing was stored" in message
    assert "missing items: 10" in message
    assert "item 2: 2 option labels given; the item has 5 options" in message
    assert "item 3: text must be a non-empty string" in message
    assert not InstrumentDefinition.objects.exists()
    assert not AuditEvent.objects.filter(action="instrument.text_pack_load").exists()
    assert not instrument_for(cast.clinic, "core10").can_be_sent


@pytest.mark.parametrize(
    ("pack", "expected"),
    [
        ([1, 2], "must be a JSON object"),
        ({"items": []}, "must name the instrument code"),
        (core10_pack(instrument="nope"), "'nope' is not an instrument"),
        (core10_pack(instrument="phq9"), "already has its item text"),
        (core10_pack(version="2"), "the pack is for version '2'"),
    ],
)
def test_packs_for_the_wrong_instrument_are_refused(cast, tmp_path, pack, expected):
    message = command_error("load_text_pack", write_json(tmp_path, "p.json", pack))
    assert expected in message
    assert not InstrumentDefinition.objects.exists()


def test_loading_a_pack_again_replaces_the_earlier_one(cast, tmp_path):
    call_command("load_text_pack", write_json(tmp_path, "a.json", core10_pack()))
    corrected = core10_pack()
    corrected["items"][0]["text"] = "Corrected placeholder"
    call_command("load_text_pack", write_json(tmp_path, "b.json", corrected))
    assert InstrumentDefinition.objects.count() == 1
    assert instrument_for(cast.clinic, "core10").item(1).text == "Corrected placeholder"
    assert AuditEvent.objects.filter(action="instrument.text_pack_load").count() == 2


def test_a_pack_that_no_longer_fits_blocks_sending_but_never_scoring(cast):
    # A pack stored for an older definition version (the definition has since moved on).
    InstrumentDefinition.objects.create(
        clinic=cast.clinic,
        code="core10",
        version="0",
        source="text_pack",
        definition=core10_pack(version="0"),
    )
    instrument = instrument_for(cast.clinic, "core10")
    assert not instrument.can_be_sent
    reason = instrument_send_block_reason(cast.clinic, "core10")
    assert "no longer fits version 1" in reason and "'0'" in reason

    recorded = administration_record(
        episode=cast.episode,
        instrument_code="core10",
        answers=[1, 4, 4, 1, 1, 0, 1, 1, 1, 1],
        source="in_session",
        entered_by=cast.therapist,
    )
    assert recorded.administration.total == 7  # items 2 and 3 reverse-keyed: 4 counts 0

    # Once a pack for the current version is loaded, it wins over the stale one.
    text_pack_load(clinic=cast.clinic, payload=core10_pack(), user=None)
    assert instrument_for(cast.clinic, "core10").can_be_sent


def test_the_template_command_prints_a_pack_that_loads_once_filled(cast, tmp_path, capsys):
    call_command("instrument_template", "ors")
    template = json.loads(capsys.readouterr().out)
    assert [entry["number"] for entry in template["items"]] == [1, 2, 3, 4]
    assert "already has its item text" in command_error("instrument_template", "phq9")

    template["licence_holder"] = "Example licence holder"
    template["instructions"] = "Placeholder instructions"
    for entry in template["items"]:
        entry["text"] = f"Placeholder scale {entry['number']}"
        entry["options"] = [str(value) for value in range(len(entry["options"]))]
    call_command("load_text_pack", write_json(tmp_path, "ors.json", template))
    assert instrument_for(cast.clinic, "ors").can_be_sent


def test_an_unknown_code_has_a_reason_too(cast):
    assert "not an instrument" in instrument_send_block_reason(cast.clinic, "nope")


# --- Definitions made in the admin (service) ---------------------------------------------------


def test_a_custom_definition_is_stored_normalised_and_used(cast):
    row = instrument_define(clinic=cast.clinic, definition=tiny_definition(), user=cast.admin)
    assert row.source == "admin"
    assert row.definition["max_total"] == 2
    assert instrument_for(cast.clinic, "sleep_check").is_case(2)
    assert AuditEvent.objects.get(action="instrument.define").actor == cast.admin


def test_a_checkins_instruments_read_together_are_each_as_read_alone(cast, tmp_path):
    # An installation-wide pack, the clinic's own pack over it and a custom definition: one read
    # of all their rows gives each code exactly what its own read gives, in the order asked.
    call_command("load_text_pack", write_json(tmp_path, "a.json", core10_pack()))
    own = core10_pack()
    own["items"][0]["text"] = "The clinic's own placeholder"
    text_pack_load(clinic=cast.clinic, payload=own, user=None)
    instrument_define(clinic=cast.clinic, definition=tiny_definition(), user=None)

    for clinic, codes in (
        (cast.clinic, ["core10", "phq9", "sleep_check", "gad7"]),
        (cast.other_clinic, ["gad7", "core10", "phq9"]),
    ):
        together = instruments_for(clinic, codes)
        assert list(together) == codes
        for code, instrument in together.items():
            assert instrument == instrument_for(clinic, code)
    own_text = own["items"][0]["text"]
    assert instruments_for(cast.clinic, ["core10"])["core10"].item(1).text == own_text
    assert instruments_for(cast.other_clinic, ["core10"])["core10"].item(1).text != own_text
    with pytest.raises(KeyError, match="sleep_check"):
        instruments_for(cast.other_clinic, ["phq9", "sleep_check"])


def test_a_clinic_definition_of_phq9_must_keep_its_risk_item(cast):
    definition = instrument_to_dict(get_instrument("phq9"))
    definition["max_missing"] = 0  # a legitimate local choice
    definition["items"][8]["critical_above"] = None
    with pytest.raises(InstrumentRefused) as refused:
        instrument_define(clinic=cast.clinic, definition=definition, user=cast.admin)
    assert any(
        message.startswith("item 9 (phq9-9): is a risk item of phq9")
        for message in refused.value.messages
    ), refused.value.messages
    assert not InstrumentDefinition.objects.exists()

    definition["items"][8]["critical_above"] = 0
    instrument_define(clinic=cast.clinic, definition=definition, user=cast.admin)
    assert instrument_for(cast.clinic, "phq9").max_missing == 0
    assert instrument_for(cast.other_clinic, "phq9").max_missing == 1


def test_a_text_pack_also_serves_a_clinic_definition_of_a_scoring_only_instrument(cast):
    definition = instrument_to_dict(get_instrument("core10"))
    definition["max_missing"] = 1
    instrument_define(clinic=cast.clinic, definition=definition, user=cast.admin)
    assert "licensed" not in instrument_send_block_reason(cast.clinic, "core10")
    text_pack_load(clinic=cast.clinic, payload=core10_pack(), user=cast.admin)
    instrument = instrument_for(cast.clinic, "core10")
    assert instrument.can_be_sent and instrument.max_missing == 1


def test_an_imported_questionnaire_without_item_text_says_which_items(cast):
    questionnaire = json.loads(GAD7_FILE.read_text(encoding="utf-8"))
    for item in questionnaire["item"]:
        if item.get("linkId") == "/69733-4":
            del item["text"]
    instrument_import_fhir(
        clinic=cast.clinic, payload=questionnaire, code="gad7_notext", user=cast.admin
    )
    reason = instrument_send_block_reason(cast.clinic, "gad7_notext")
    assert "items without text (item 3)" in reason


# --- The Django admin --------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def _no_second_factor_here(settings):
    settings.MFA_REQUIRED = False


@pytest.fixture
def admin_client(cast, client):
    """The clinic admin, signed in to the Django admin with the instrument permissions only."""
    user = cast.admin
    user.is_staff = True
    user.save()
    user.user_permissions.set(
        Permission.objects.filter(
            content_type__app_label="outcomes",
            codename__in=[
                "add_instrumentdefinition",
                "change_instrumentdefinition",
                "view_instrumentdefinition",
            ],
        )
    )
    client.force_login(user)
    return client


def upload(path_or_data, name="upload.json"):
    if isinstance(path_or_data, Path):
        return SimpleUploadedFile(path_or_data.name, path_or_data.read_bytes())
    return SimpleUploadedFile(name, json.dumps(path_or_data).encode())


IMPORT_URL = "admin:outcomes_instrument_import"
PACK_URL = "admin:outcomes_instrument_text_pack"
AVAILABLE_URL = "admin:outcomes_instruments_available"


def test_the_changelist_links_to_import_load_and_available(admin_client):
    page = admin_client.get(reverse("admin:outcomes_instrumentdefinition_changelist"))
    assert page.status_code == 200
    for name in (IMPORT_URL, PACK_URL, AVAILABLE_URL):
        assert reverse(name) in page.content.decode()


@pytest.mark.parametrize(("path", "code", "n_items", "n_scored"), FIXTURES)
def test_the_admin_imports_each_fixture_questionnaire(
    cast, admin_client, path, code, n_items, n_scored
):
    response = admin_client.post(
        reverse(IMPORT_URL),
        {
            "file": upload(path),
            "code": code,
            "clinic": cast.clinic.pk,
            "direction": "lower_is_better",
            "max_missing": 1,
        },
    )
    row = InstrumentDefinition.objects.get(code=code)
    assert response.status_code == 302
    assert response.url == reverse("admin:outcomes_instrumentdefinition_change", args=[row.pk])
    assert row.clinic == cast.clinic
    instrument = instrument_for(cast.clinic, code)
    assert (len(instrument.items), len(instrument.scored_items)) == (n_items, n_scored)
    assert instrument.max_missing == 1
    assert AuditEvent.objects.get(action="instrument.import_fhir").actor == cast.admin
    # The change page shows the stored definition to complete (bands, caseness).
    assert admin_client.get(response.url).status_code == 200


def test_the_admin_refuses_a_malformed_questionnaire_and_lists_every_problem(cast, admin_client):
    questionnaire = json.loads(GAD7_FILE.read_text(encoding="utf-8"))
    questionnaire["item"][1]["type"] = "date"
    questionnaire["item"][2]["answerOption"][1].pop("extension", None)
    questionnaire["item"][2]["answerOption"][1]["valueCoding"].pop("extension", None)
    response = admin_client.post(
        reverse(IMPORT_URL),
        {
            "file": upload(questionnaire),
            "code": "gad7_uwcirg",
            "clinic": cast.clinic.pk,
            "direction": "lower_is_better",
            "max_missing": 0,
        },
    )
    assert response.status_code == 200
    page = response.content.decode()
    assert "Refused; nothing was stored" in page
    assert "item &#x27;/69725-0&#x27;: type &#x27;date&#x27; cannot be scored" in page
    assert "item &#x27;/68509-9&#x27;: options" in page and "have no ordinal value" in page
    assert not InstrumentDefinition.objects.exists()


def test_the_admin_refuses_a_file_that_is_not_json(cast, admin_client):
    response = admin_client.post(
        reverse(IMPORT_URL),
        {
            "file": SimpleUploadedFile("q.json", b"\xff\xfe not json"),
            "code": "broken",
            "clinic": cast.clinic.pk,
            "direction": "lower_is_better",
            "max_missing": 0,
        },
    )
    assert response.status_code == 200
    assert "not UTF-8 text" in response.content.decode()
    assert not InstrumentDefinition.objects.exists()


def test_a_clinic_admin_cannot_import_for_another_clinic(cast, admin_client):
    response = admin_client.post(
        reverse(IMPORT_URL),
        {
            "file": upload(GAD7_FILE),
            "code": "gad7_uwcirg",
            "clinic": cast.other_clinic.pk,
            "direction": "lower_is_better",
            "max_missing": 0,
        },
    )
    assert response.status_code == 200
    assert "Select a valid choice" in response.content.decode()
    assert not InstrumentDefinition.objects.exists()


def test_the_admin_loads_a_text_pack_and_the_available_page_shows_why_others_cannot_be_sent(
    cast, admin_client
):
    before = admin_client.get(reverse(AVAILABLE_URL)).content.decode()
    assert "CORE-10 item text is licensed" in before
    assert "load your clinic&#x27;s licensed text pack" in before

    response = admin_client.post(
        reverse(PACK_URL), {"file": upload(core10_pack()), "clinic": cast.clinic.pk}
    )
    assert response.status_code == 302
    assert instrument_for(cast.clinic, "core10").can_be_sent

    rows = admin_client.get(reverse(AVAILABLE_URL)).context["rows"]
    by_code = {row["code"]: row for row in rows}
    assert by_code["core10"]["can_be_sent"] and by_code["core10"]["text"] == "licensed text pack"
    assert not by_code["ors"]["can_be_sent"] and "licensed" in by_code["ors"]["reason"]
    assert by_code["phq9"]["reason"] is None

    changelist = admin_client.get(reverse("admin:outcomes_instrumentdefinition_changelist"))
    assert "yes" in changelist.content.decode()


def test_the_admin_refuses_an_incomplete_pack(cast, admin_client):
    pack = core10_pack()
    pack["items"] = pack["items"][:8]
    response = admin_client.post(
        reverse(PACK_URL), {"file": upload(pack), "clinic": cast.clinic.pk}
    )
    assert response.status_code == 200
    assert "missing items: 9, 10" in response.content.decode()
    assert not InstrumentDefinition.objects.exists()


def test_the_admin_defines_an_instrument_from_json(cast, admin_client):
    response = admin_client.post(
        reverse("admin:outcomes_instrumentdefinition_add"),
        {"clinic": cast.clinic.pk, "definition": json.dumps(tiny_definition()), "active": "on"},
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    row = InstrumentDefinition.objects.get()
    assert (row.code, row.version, row.source, row.clinic) == (
        "sleep_check",
        "1",
        "admin",
        cast.clinic,
    )
    assert AuditEvent.objects.filter(action="instrument.define").count() == 1


def test_the_admin_refuses_an_invalid_definition_naming_the_item(cast, admin_client):
    definition = tiny_definition()
    definition["items"][1]["options"] = [
        {"value": 0, "label": "Never"},
        {"value": 0, "label": "Sometimes"},
    ]
    definition["bands"][1]["high"] = 9
    response = admin_client.post(
        reverse("admin:outcomes_instrumentdefinition_add"),
        {"clinic": cast.clinic.pk, "definition": json.dumps(definition), "active": "on"},
    )
    assert response.status_code == 200
    page = response.content.decode()
    assert "item 2 (q2): answer value 0 appears more than once" in page
    assert "band 2 (high): 2–9 lies outside the possible totals" in page
    assert not InstrumentDefinition.objects.exists()


def test_the_admin_completes_an_imported_definition_with_bands_and_caseness(cast, admin_client):
    row = instrument_import_fhir(
        clinic=cast.clinic, payload=GAD7_FILE.read_bytes(), code="gad7_uwcirg", user=cast.admin
    )
    definition = copy.deepcopy(row.definition)
    definition["caseness_cutoff"] = 8
    definition["bands"] = [
        {"low": 0, "high": 7, "label": "below"},
        {"low": 8, "high": 21, "label": "case"},
    ]
    response = admin_client.post(
        reverse("admin:outcomes_instrumentdefinition_change", args=[row.pk]),
        {"clinic": cast.clinic.pk, "definition": json.dumps(definition), "active": "on"},
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    row.refresh_from_db()
    assert row.source == "fhir"
    assert instrument_for(cast.clinic, "gad7_uwcirg").band_for(9) == "case"


def test_a_clinic_admin_sees_only_their_clinics_definitions(cast, admin_client):
    text_pack_load(clinic=cast.other_clinic, payload=core10_pack(), user=None)
    mine = text_pack_load(clinic=cast.clinic, payload=core10_pack(), user=None)
    page = admin_client.get(reverse("admin:outcomes_instrumentdefinition_changelist"))
    assert list(page.context["cl"].queryset) == [mine]


def test_a_text_pack_is_withdrawn_by_deactivating_it_in_the_admin(cast, admin_client):
    row = text_pack_load(clinic=cast.clinic, payload=core10_pack(), user=cast.admin)
    response = admin_client.post(
        reverse("admin:outcomes_instrumentdefinition_change", args=[row.pk]), {}
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    row.refresh_from_db()
    assert not row.active
    assert not instrument_for(cast.clinic, "core10").can_be_sent
    assert AuditEvent.objects.filter(action="instrument.deactivate").count() == 1


def test_a_new_definition_can_start_from_a_copy_of_a_built_in(admin_client):
    page = admin_client.get(reverse("admin:outcomes_instrumentdefinition_add") + "?copy=oq45")
    assert page.status_code == 200
    initial = page.context["adminform"].form.initial["definition"]
    assert initial["code"] == "oq45" and len(initial["items"]) == 45


# --- issue 17: risk decisions, one size limit, mapping to the built-in ---------------------------


def oversized_questionnaire(tmp_path) -> Path:
    """The GAD-7 padded with whitespace to 5.2 MB: valid JSON, only too large."""
    text = GAD7_FILE.read_text(encoding="utf-8")
    path = tmp_path / "padded.json"
    path.write_text(text + " " * int(5.2 * 1024 * 1024 - len(text)), encoding="utf-8")
    return path


def test_the_command_refuses_a_file_over_the_one_size_limit(cast, tmp_path):
    message = command_error(
        "import_questionnaire", str(oversized_questionnaire(tmp_path)), "--code", "gad7_big"
    )
    assert "the Questionnaire file is 5.2 MB; at most 5 MB can be imported" in message
    assert not InstrumentDefinition.objects.exists()


def test_the_service_refuses_an_oversized_payload_from_any_door(cast, tmp_path):
    with pytest.raises(InstrumentRefused) as refused:
        instrument_import_fhir(
            clinic=cast.clinic,
            payload=oversized_questionnaire(tmp_path).read_bytes(),
            code="gad7_big",
            user=cast.admin,
        )
    assert refused.value.messages == [
        "the Questionnaire file is 5.2 MB; at most 5 MB can be imported"
    ]


def test_an_import_without_a_risk_item_cannot_be_sent_until_an_admin_decides(cast, capsys):
    call_command(
        "import_questionnaire",
        str(GAD7_FILE),
        "--code",
        "gad7_uwcirg",
        "--clinic",
        cast.clinic.slug,
    )
    out = capsys.readouterr().out
    assert "No risk item was recognised: it cannot be sent to clients" in out
    assert "(LOINC panel 69737-5)" in out and "--map-to-builtin" in out
    reason = instrument_send_block_reason(cast.clinic, "gad7_uwcirg")
    assert "without a recognised risk item" in reason
    with pytest.raises(PlanInvalid):
        plan_set(episode=cast.episode, instruments=["gad7_uwcirg"])

    row = InstrumentDefinition.objects.get(code="gad7_uwcirg")
    instrument_define(
        clinic=cast.clinic,
        definition={**row.definition, "risk_decision": "none"},
        user=cast.admin,
        instance=row,
    )
    assert instrument_send_block_reason(cast.clinic, "gad7_uwcirg") is None


def test_the_command_names_the_risk_item_it_recognised_and_clinic_marked_ones(cast, capsys):
    call_command("import_questionnaire", str(PHQ9_FILE), "--code", "phq9_lforms")
    assert "Risk alert when item 9 (LOINC 44260-8) answered above 0." in capsys.readouterr().out
    call_command(
        "import_questionnaire", str(GAD7_FILE), "--code", "gad7_afraid", "--risk-loinc", "69736-7:1"
    )
    instrument = instrument_for(cast.clinic, "gad7_afraid")
    assert [(i.number, i.critical_above) for i in instrument.critical_items] == [(7, 1)]
    assert instrument.can_be_sent


def test_the_command_maps_a_recognised_phq9_to_the_builtin(cast, capsys):
    call_command(
        "import_questionnaire", str(PHQ9_FILE), "--code", "phq9_lforms", "--map-to-builtin"
    )
    out = capsys.readouterr().out
    assert "Add its bands" not in out and "declares itself the" not in out
    instrument = instrument_for(cast.clinic, "phq9_lforms")
    assert instrument.bands == get_instrument("phq9").bands
    assert (instrument.caseness_cutoff, instrument.reliable_change) == (10, 6)
    recorded = administration_record(
        episode=cast.episode,
        instrument_code="phq9_lforms",
        answers=[3] * 9,
    )
    assert recorded.administration.total == 27
    assert AuditEvent.objects.get(action="instrument.import_fhir").details["mapped_to"] == "phq9"


@pytest.fixture
def superuser_client(client, django_user_model):
    # The admin site answers to superusers only (config/admin_site.py).
    client.force_login(
        django_user_model.objects.create_superuser("root", "root@example.org", "x" * 20)
    )
    return client


def test_the_admin_door_has_the_same_size_limit_and_maps_to_the_builtin(
    cast, superuser_client, tmp_path
):
    fields = {"code": "gad7_uwcirg", "direction": "lower_is_better", "max_missing": 0}
    response = superuser_client.post(
        reverse(IMPORT_URL),
        {**fields, "file": upload(oversized_questionnaire(tmp_path))},
    )
    assert response.status_code == 200 and "larger than 5 MB" in response.content.decode()
    assert not InstrumentDefinition.objects.exists()

    response = superuser_client.post(
        reverse(IMPORT_URL), {**fields, "file": upload(GAD7_FILE), "map_to_builtin": "on"}
    )
    assert response.status_code == 302
    instrument = instrument_for(cast.clinic, "gad7_uwcirg")
    assert (instrument.caseness_cutoff, instrument.max_total) == (8, 21)
    assert instrument.can_be_sent


def test_both_doors_refuse_hl7s_phq9_example_naming_the_phq9(cast, admin_client):
    """The FHIR R4 specification's own PHQ-9 example (HL7, CC0) lacks item 9: neither the command
    nor the admin stores it, and both say why in the PHQ-9's name."""
    path = FHIR / "hl7-fhir-r4-examples_Questionnaire-phq-9-questionnaire.json"
    message = command_error("import_questionnaire", str(path), "--code", "phq9_hl7")
    assert "not the Patient Health Questionnaire-9 (PHQ-9) (LOINC 44249-1): its item 9" in message
    response = admin_client.post(
        reverse(IMPORT_URL),
        {
            "file": upload(json.loads(path.read_text(encoding="utf-8"))),
            "code": "phq9_hl7",
            "clinic": cast.clinic.pk,
            "direction": "lower_is_better",
            "max_missing": 0,
        },
    )
    page = response.content.decode()
    assert "Refused; nothing was stored" in page
    assert "its item 9 (LOINC 44260-8) is missing" in page
    assert not InstrumentDefinition.objects.exists()
