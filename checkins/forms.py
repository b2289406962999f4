"""Forms for the client's check-in, staff entry of in-session or paper forms, and plans.

Items become radio groups: native radios are keyboard-operable (arrow keys within a group),
announce their label and group, and work without JavaScript; CSS styles the 0–10 ones as a
segmented scale.
"""

from __future__ import annotations

from dataclasses import dataclass

from django import forms
from django.utils import timezone

from clients.models import MeasurementPlan
from measures.instruments import Instrument, Item
from outcomes.models import ResponseSource
from outcomes.selectors import instruments_available

REQUIRED_MESSAGE = "Please choose an answer to this question."
# A value the form never offered (an edited request, a broken browser extension): saying the
# answer is "missing" would send the client looking for a question they did answer.
NOT_A_CHOICE_MESSAGE = "That answer is not one of the choices: please choose one of those shown."
# An item with this many options or more is a numeric rating, shown as a segmented scale.
SCALE_MIN_OPTIONS = 7


def item_field_name(instrument: Instrument, item: Item) -> str:
    return f"{instrument.code}-{item.number}"


def is_scale(item: Item) -> bool:
    if item.continuous:
        return False
    values = sorted(item.values)
    return len(values) >= SCALE_MIN_OPTIONS and values == list(range(values[0], values[-1] + 1))


def _scale_anchor(label: str) -> str:
    """'0 – not at all' → 'not at all': the number is already on the segment."""
    for dash in (" – ", " - ", " — "):
        if dash in label:
            return label.split(dash, 1)[1]
    return "" if label.strip().isdigit() else label


class VisualAnalogueField(forms.DecimalField):
    """A continuous item (ORS, SRS, session rating): a mark from min to max read to its step.

    Empty means "not answered": a slider must never submit its starting position unasked.
    Cleans to a float (or None) so the scoring rules see the same numbers as from the API.
    """

    def __init__(self, item: Item, **kwargs):
        super().__init__(
            min_value=item.minimum,
            max_value=item.maximum,
            decimal_places=item.decimals,
            step_size=item.step,
            widget=forms.NumberInput(
                attrs={"step": str(item.step), "min": item.minimum, "max": item.maximum}
            ),
            **kwargs,
        )
        self.item = item

    def clean(self, value):
        cleaned = super().clean(value)
        return None if cleaned is None else float(cleaned)


def _item_field(item: Item, *, required: bool, scale: bool) -> forms.Field:
    if item.continuous:
        return VisualAnalogueField(
            item,
            label=item.label,
            required=required,
            error_messages={"required": REQUIRED_MESSAGE},
        )
    choices = [
        (option.value, str(option.value) if scale else option.label) for option in item.options
    ]
    return forms.TypedChoiceField(
        label=item.label,
        choices=choices,
        coerce=int,
        empty_value=None,
        required=required,
        widget=forms.RadioSelect,
        error_messages={"required": REQUIRED_MESSAGE, "invalid_choice": NOT_A_CHOICE_MESSAGE},
    )


@dataclass
class ItemRow:
    item: Item
    field: forms.BoundField
    scale: bool
    low_anchor: str = ""
    high_anchor: str = ""

    @property
    def continuous(self) -> bool:
        return self.item.continuous


@dataclass
class Section:
    instrument: Instrument
    position: int
    count: int
    items: list[ItemRow]
    # The instrument's instructions as this client reads them (they carry the time frame).
    instructions: str = ""


class _InstrumentsForm(forms.Form):
    """Fields for every item of ``instruments``; ``answers()`` gives them back in item order."""

    def __init__(
        self,
        *args,
        instruments: list[Instrument],
        require_scored: bool,
        instructions: dict[str, str] | None = None,
        **kwargs,
    ):
        super().__init__(*args, **kwargs)
        self.instruments = instruments
        self.instructions = instructions or {}
        for instrument in instruments:
            for item in instrument.items:
                self.fields[item_field_name(instrument, item)] = _item_field(
                    item, required=require_scored and item.scored, scale=is_scale(item)
                )

    def sections(self) -> list[Section]:
        sections = []
        for position, instrument in enumerate(self.instruments, start=1):
            rows = []
            for item in instrument.items:
                scale = is_scale(item)
                options = sorted(item.options, key=lambda option: option.value)
                low, high = item.anchors or ("", "")
                if scale:
                    low, high = _scale_anchor(options[0].label), _scale_anchor(options[-1].label)
                rows.append(
                    ItemRow(
                        item=item,
                        field=self[item_field_name(instrument, item)],
                        scale=scale,
                        low_anchor=low,
                        high_anchor=high,
                    )
                )
            sections.append(
                Section(
                    instrument,
                    position,
                    len(self.instruments),
                    rows,
                    instructions=self.instructions.get(instrument.code, instrument.instructions),
                )
            )
        return sections

    def answers(self) -> dict[str, list]:
        return {
            instrument.code: [
                self.cleaned_data.get(item_field_name(instrument, item))
                for item in instrument.items
            ]
            for instrument in self.instruments
        }

    @property
    def answers_missing_only(self) -> bool:
        """Whether every error is a question left out (the summary then says "missing")."""
        return not self.non_field_errors() and all(
            message == REQUIRED_MESSAGE for errors in self.errors.values() for message in errors
        )

    def add_scoring_errors(self, errors: list[str]) -> None:
        """Errors from the scoring rules (e.g. too many gaps on a paper form), shown at the top."""
        for error in errors:
            self.add_error(None, error)


class CheckInForm(_InstrumentsForm):
    """The client's form: every scored item answered, plus the "contact me" choice."""

    contact_request = forms.BooleanField(
        required=False,
        label="Please contact me before my next session",
    )

    def __init__(self, *args, instruments: list[Instrument], **kwargs):
        super().__init__(*args, instruments=instruments, require_scored=True, **kwargs)

    @property
    def question_count(self) -> int:
        return sum(len(instrument.items) for instrument in self.instruments)


class ResponseEntryForm(_InstrumentsForm):
    """A therapist's entry of one form from the session or from paper.

    Items may be left empty (a paper form with a gap): the scoring rules decide whether the form
    can still be scored (CLINICAL.md §1) and say why not.
    """

    source = forms.ChoiceField(
        label="How was this form filled?",
        choices=[
            (ResponseSource.IN_SESSION, "In session, with me"),
            (ResponseSource.PAPER, "On paper"),
        ],
        widget=forms.RadioSelect,
        initial=ResponseSource.IN_SESSION,
    )
    administered_on = forms.DateField(
        label="Date the client filled it",
        widget=forms.DateInput(attrs={"type": "date"}),
    )

    def __init__(self, *args, instrument: Instrument, **kwargs):
        super().__init__(*args, instruments=[instrument], require_scored=False, **kwargs)
        self.fields["administered_on"].initial = timezone.localdate()

    def clean_administered_on(self):
        day = self.cleaned_data["administered_on"]
        if day > timezone.localdate():
            raise forms.ValidationError("The date cannot be in the future.")
        return day


class MeasurementPlanForm(forms.ModelForm):
    """Edit an episode's plan; refuses instruments that cannot be sent (no licensed item text)."""

    instruments = forms.MultipleChoiceField(
        choices=(), widget=forms.CheckboxSelectMultiple, label="Forms sent to the client"
    )

    class Meta:
        model = MeasurementPlan
        fields = [
            "instruments",
            "schedule",
            "weekday",
            "local_time",
            "session_rating_after_sessions",
        ]
        widgets = {"local_time": forms.TimeInput(attrs={"type": "time"})}

    def __init__(self, *args, clinic, **kwargs):
        super().__init__(*args, **kwargs)
        self.clinic = clinic
        available = instruments_available(clinic)
        self.fields["instruments"].choices = [
            (code, instrument.name)
            for code, instrument in sorted(available.items())
            if code != "session_rating"
        ]

    def clean_instruments(self):
        from clients.checkins import plan_instruments_errors

        codes = self.cleaned_data["instruments"]
        errors = plan_instruments_errors(clinic=self.clinic, codes=codes)
        if errors:
            raise forms.ValidationError(errors)
        return codes
