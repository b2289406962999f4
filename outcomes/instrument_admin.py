"""The admin for instrument definitions: define one as JSON, import a FHIR R4 Questionnaire, load
a licensed text pack, and see which instruments each clinic can send and why not.

Every write goes through ``outcomes.instrument_services`` (validated, audited, nothing stored on
error). A clinic admin who is not a superuser sees and changes only their own clinics' rows;
installation-wide rows (no clinic) are theirs to read, and only a superuser's to change.
"""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import Q
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse

from clients.models import Clinic, Role
from clients.selectors import memberships_of
from measures.instruments import (
    BUILTIN_CODES,
    DIRECTIONS,
    MAX_QUESTIONNAIRE_BYTES,
    load_definition_file,
)
from outcomes.instrument_services import (
    InstrumentRefused,
    instrument_define,
    instrument_definition_check,
    instrument_definition_set_active,
    instrument_import_fhir,
    instrument_import_notes,
    text_pack_load,
)
from outcomes.models import InstrumentDefinition
from outcomes.selectors import instrument_send_block_reason, instruments_overview

# A Questionnaire or text pack is a few hundred kilobytes at most; refuse anything far larger
# before reading it into memory. The same limit as the management command's.
MAX_UPLOAD_BYTES = MAX_QUESTIONNAIRE_BYTES
Source = InstrumentDefinition.Source


def administered_clinics(user):
    """The clinics whose instruments ``user`` may manage here."""
    if user.is_superuser:
        return Clinic.objects.order_by("name")
    ids = memberships_of(user).filter(role=Role.ADMIN).values("clinic_id")
    return Clinic.objects.filter(pk__in=ids).order_by("name")


class ClinicChoiceMixin:
    """A clinic field limited to the user's clinics; empty (every clinic) only for a superuser."""

    def limit_clinics(self, user):
        field = self.fields["clinic"]
        field.queryset = administered_clinics(user)
        field.required = not user.is_superuser
        field.empty_label = "Every clinic on this installation" if user.is_superuser else None


def read_upload(form, name="file") -> bytes | None:
    upload = form.cleaned_data.get(name)
    if upload is None:
        return None
    if upload.size > MAX_UPLOAD_BYTES:
        form.add_error(name, f"The file is larger than {MAX_UPLOAD_BYTES // 1024 // 1024} MB.")
        return None
    return upload.read()


def add_refusal(form, refusal: InstrumentRefused, field=None) -> None:
    for message in refusal.messages:
        form.add_error(field, message)


class QuestionnaireImportForm(ClinicChoiceMixin, forms.Form):
    file = forms.FileField(label="FHIR R4 Questionnaire (JSON)")
    code = forms.SlugField(
        max_length=40,
        help_text="The instrument's code: lower-case letters, digits and underscores. Built-in "
        f"codes ({', '.join(BUILTIN_CODES)}) cannot be used.",
    )
    clinic = forms.ModelChoiceField(queryset=Clinic.objects.none(), required=False)
    direction = forms.ChoiceField(
        choices=[(d, d.replace("_", " ")) for d in DIRECTIONS], initial="lower_is_better"
    )
    max_missing = forms.IntegerField(
        min_value=0,
        initial=0,
        help_text="Scored items that may be missing before the total is prorated.",
    )
    version = forms.CharField(
        max_length=20, required=False, help_text="Default: the Questionnaire's own version, else 1."
    )
    risk_loinc = forms.CharField(
        required=False,
        label="Risk items (LOINC codes)",
        help_text="Comma-separated LOINC codes of items that signal risk, each optionally "
        "CODE:ABOVE (answers above ABOVE, default 0). PHQ-9 item 9 (44260-8) is known.",
    )
    map_to_builtin = forms.BooleanField(
        required=False,
        label="Map to the built-in instrument",
        help_text="For a PHQ-9 or GAD-7 (recognised by its LOINC panel code): store the built-in "
        "definition with its bands, caseness and risk item, using this Questionnaire's wording.",
    )

    def clean_risk_loinc(self):
        codes = {}
        for part in self.cleaned_data["risk_loinc"].split(","):
            if not part.strip():
                continue
            code, _, above = part.partition(":")
            try:
                codes[code.strip()] = int(above) if above.strip() else 0
            except ValueError:
                raise forms.ValidationError(f"{part.strip()!r}: write CODE or CODE:ABOVE") from None
        return codes


class TextPackForm(ClinicChoiceMixin, forms.Form):
    file = forms.FileField(
        label="Text pack (JSON)",
        help_text='Format: docs/instruments.md, "Text packs". manage.py instrument_template '
        "CODE prints an empty one.",
    )
    clinic = forms.ModelChoiceField(queryset=Clinic.objects.none(), required=False)


class InstrumentDefinitionForm(forms.ModelForm):
    """The definition as JSON, checked with the same rules as every other door in."""

    class Meta:
        model = InstrumentDefinition
        fields = ("clinic", "definition", "active")
        widgets = {"definition": forms.Textarea(attrs={"rows": 30, "cols": 100})}
        help_texts = {
            "definition": 'JSON as in docs/instruments.md ("Definition JSON"); code and version '
            "are read from it. Problems are listed by item."
        }

    def clean(self):
        cleaned = super().clean()
        if "definition" not in cleaned or self.instance.source == Source.TEXT_PACK:
            return cleaned
        normalised, errors = instrument_definition_check(
            clinic=cleaned.get("clinic"), definition=cleaned["definition"], instance=self.instance
        )
        for message in errors:
            self.add_error("definition", message)
        if normalised is not None:
            cleaned["definition"] = normalised
        return cleaned


class InstrumentDefinitionAdmin(admin.ModelAdmin):
    # The one admin page for clinic admins (config.admin_site): every read and choice below is
    # limited to the clinics they administer.
    clinic_scoped = True
    form = InstrumentDefinitionForm
    list_display = ("code", "version", "source", "clinic", "active", "sending", "created_at")
    list_filter = ("source", "active")
    search_fields = ("code",)
    change_list_template = "admin/outcomes/instrumentdefinition/change_list.html"

    # --- Scope ---------------------------------------------------------------------------------

    def get_queryset(self, request):
        rows = super().get_queryset(request).select_related("clinic")
        if request.user.is_superuser:
            return rows
        return rows.filter(
            Q(clinic__in=administered_clinics(request.user)) | Q(clinic__isnull=True)
        )

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "clinic":
            kwargs["queryset"] = administered_clinics(request.user)
            kwargs["required"] = not request.user.is_superuser
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def has_change_permission(self, request, obj=None):
        if obj is not None and obj.clinic_id is None and not request.user.is_superuser:
            return False
        return super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None):
        # Answers stored against a definition must stay readable: deactivate instead.
        return False

    def get_readonly_fields(self, request, obj=None):
        if obj is not None and obj.source == Source.TEXT_PACK:
            # Wording changes arrive as a new pack (validated against the definition).
            return ("clinic", "definition", "code", "version", "source")
        if obj is not None:
            return ("code", "version", "source")
        return ()

    def get_changeform_initial_data(self, request):
        initial = super().get_changeform_initial_data(request)
        copy = request.GET.get("copy")
        if copy in BUILTIN_CODES:
            initial["definition"] = load_definition_file(copy)
        return initial

    # --- Writes through the services --------------------------------------------------------

    def save_model(self, request, obj, form, change):
        if obj.source == Source.TEXT_PACK:
            # Only ``active`` is editable on a pack; compare with the stored row, not the form's.
            stored = InstrumentDefinition.objects.get(pk=obj.pk)
            instrument_definition_set_active(row=stored, active=obj.active, user=request.user)
            return
        instrument_define(
            clinic=obj.clinic,
            definition=form.cleaned_data["definition"],
            user=request.user,
            active=obj.active,
            instance=obj,
        )

    @admin.display(description="Can be sent to clients")
    def sending(self, obj):
        if not obj.active:
            return "—"
        reason = instrument_send_block_reason(obj.clinic, obj.code)
        return "yes" if reason is None else f"no: {reason}"

    # --- Extra pages -------------------------------------------------------------------------

    def get_urls(self):
        wrap = self.admin_site.admin_view
        return [
            path("import-fhir/", wrap(self.import_fhir_view), name="outcomes_instrument_import"),
            path(
                "load-text-pack/",
                wrap(self.load_text_pack_view),
                name="outcomes_instrument_text_pack",
            ),
            path("available/", wrap(self.available_view), name="outcomes_instruments_available"),
            *super().get_urls(),
        ]

    def _page(self, request, template, title, **context):
        return TemplateResponse(
            request,
            f"admin/outcomes/instrumentdefinition/{template}",
            {
                **self.admin_site.each_context(request),
                "opts": self.model._meta,
                "title": title,
                **context,
            },
        )

    def import_fhir_view(self, request):
        if not self.has_add_permission(request):
            raise PermissionDenied
        form = QuestionnaireImportForm(request.POST or None, request.FILES or None)
        form.limit_clinics(request.user)
        if request.method == "POST" and form.is_valid():
            payload = read_upload(form)
            if payload is not None:
                try:
                    row = instrument_import_fhir(
                        clinic=form.cleaned_data["clinic"],
                        payload=payload,
                        code=form.cleaned_data["code"],
                        user=request.user,
                        direction=form.cleaned_data["direction"],
                        max_missing=form.cleaned_data["max_missing"],
                        version=form.cleaned_data["version"] or None,
                        risk_loinc=form.cleaned_data["risk_loinc"],
                        map_to_builtin=form.cleaned_data["map_to_builtin"],
                    )
                except InstrumentRefused as refusal:
                    add_refusal(form, refusal)
                else:
                    follow_up = (
                        ""
                        if row.definition.get("bands")
                        else " Add its bands, caseness cutoff and reliable change below before "
                        "relying on its scores."
                    )
                    self.message_user(
                        request,
                        f"Imported {row.code} version {row.version} "
                        f"({len(row.definition['items'])} items).{follow_up}",
                        messages.SUCCESS,
                    )
                    for note in instrument_import_notes(row):
                        self.message_user(request, note, messages.WARNING)
                    return redirect(
                        reverse("admin:outcomes_instrumentdefinition_change", args=[row.pk])
                    )
        return self._page(
            request, "upload.html", "Import a FHIR Questionnaire", form=form, refused=form.errors
        )

    def load_text_pack_view(self, request):
        if not self.has_add_permission(request):
            raise PermissionDenied
        form = TextPackForm(request.POST or None, request.FILES or None)
        form.limit_clinics(request.user)
        if request.method == "POST" and form.is_valid():
            payload = read_upload(form)
            if payload is not None:
                try:
                    row = text_pack_load(
                        clinic=form.cleaned_data["clinic"], payload=payload, user=request.user
                    )
                except InstrumentRefused as refusal:
                    add_refusal(form, refusal)
                else:
                    self.message_user(
                        request,
                        f"Loaded the {row.code} text pack (version {row.version}); {row.code} "
                        "can now be sent to clients.",
                        messages.SUCCESS,
                    )
                    return redirect(reverse("admin:outcomes_instruments_available"))
        return self._page(
            request, "upload.html", "Load a licensed text pack", form=form, refused=form.errors
        )

    def available_view(self, request):
        if not self.has_view_permission(request):
            raise PermissionDenied
        clinics = list(administered_clinics(request.user))
        chosen = request.GET.get("clinic")
        clinic = next((c for c in clinics if str(c.pk) == chosen), clinics[0] if clinics else None)
        return self._page(
            request,
            "available.html",
            "Available instruments",
            clinics=clinics,
            clinic=clinic,
            rows=instruments_overview(clinic) if clinic is not None else [],
        )
