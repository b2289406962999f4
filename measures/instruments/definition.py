"""The shape of an outcome instrument: items, answer options, bands and scoring rules.

Definitions are plain, frozen data so that the same object can come from a built-in JSON file,
an imported FHIR Questionnaire or a clinic's custom definition stored as JSON in the database.
Nothing here touches Django.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

Direction = Literal["lower_is_better", "higher_is_better"]
DIRECTIONS: tuple[str, ...] = ("lower_is_better", "higher_is_better")
# Whether someone has decided which items signal risk: "items" (the items with
# ``critical_above``), "none" (an admin stated the instrument has no risk item) or "pending"
# (imported and not yet reviewed: it must not reach a client, whose risk answer could go unseen).
RiskDecision = Literal["items", "none", "pending"]
RISK_DECISIONS: tuple[str, ...] = ("items", "none", "pending")


@dataclass(frozen=True)
class Option:
    """One answer option: the value printed on the form, its label and an optional code."""

    value: int
    label: str
    code: str | None = None


ItemKind = Literal["choice", "continuous"]
ITEM_KINDS: tuple[str, ...] = ("choice", "continuous")


def decimals_of(step: float) -> int:
    """Decimal places of a step: 1 → 0, 0.1 → 1, 0.05 → 2."""
    text = f"{step:.10f}".rstrip("0")
    return len(text.split(".")[1]) if "." in text else 0


@dataclass(frozen=True)
class Item:
    """One question.

    ``kind`` "choice": the answer is one of ``options``. ``kind`` "continuous": a visual-analogue
    line or slider from ``minimum`` to ``maximum`` read to ``step`` (ORS, SRS and our session
    rating: 0–10 in 0.1 steps, a 10 cm line measured to the nearest millimetre, Miller et al.
    2003), with ``anchors`` (low end, high end) as its printed labels.
    ``critical_above``: the answer signals risk when its (keyed) value is greater than this,
    e.g. PHQ-9 item 9 with ``critical_above=0`` (Kroenke, Spitzer & Williams 2001).
    ``reverse``: the printed value is reverse-keyed before summing (CORE-10 items 2 and 3,
    Barkham et al. 2013).
    """

    number: int
    link_id: str
    text: str | None
    options: tuple[Option, ...]
    scored: bool = True
    reverse: bool = False
    critical_above: float | None = None
    subscale: str | None = None
    loinc: str | None = None
    kind: ItemKind = "choice"
    minimum: float | None = None
    maximum: float | None = None
    step: float | None = None
    anchors: tuple[str, str] | None = None

    @property
    def continuous(self) -> bool:
        return self.kind == "continuous"

    @property
    def values(self) -> tuple[int, ...]:
        """The printed option values (none for a continuous item)."""
        return tuple(option.value for option in self.options)

    @property
    def min_value(self) -> float:
        return self.minimum if self.continuous else min(self.values)

    @property
    def max_value(self) -> float:
        return self.maximum if self.continuous else max(self.values)

    @property
    def decimals(self) -> int:
        return decimals_of(self.step) if self.continuous else 0

    @property
    def label(self) -> str:
        """What to call the item in messages and in forms without licensed text."""
        return self.text if self.text else f"Item {self.number}"

    def keyed(self, printed_value: float) -> float:
        """The value that counts towards the total: reverse keying mirrors it in the range."""
        if self.reverse:
            mirrored = self.min_value + self.max_value - printed_value
            return round(mirrored, self.decimals) if self.continuous else mirrored
        return printed_value


@dataclass(frozen=True)
class Band:
    """A severity band; ``low`` and ``high`` are both inclusive."""

    low: float
    high: float
    label: str

    def contains(self, total: float) -> bool:
        return self.low <= total <= self.high


@dataclass(frozen=True)
class Norms:
    """Published norms used for Jacobson–Truax cutoffs and reliable change; None where unknown."""

    clinical_mean: float | None = None
    clinical_sd: float | None = None
    functional_mean: float | None = None
    functional_sd: float | None = None
    reliability: float | None = None


@dataclass(frozen=True)
class Instrument:
    """A versioned instrument definition.

    ``caseness_cutoff`` is read with the instrument's direction: for lower-is-better measures a
    total at or above the cutoff is a case (PHQ-9 >= 10); for higher-is-better measures a total
    below it is (WHO-5 < 52 %, ORS < 25). ``reliable_change`` is a fixed published number of
    points; a change of at least that size is reliable (NHS Talking Therapies Manual).
    ``item_alert_at_or_below``: any scored item answered at or below this raises
    ``item_alert_label`` (WHO-5: an item scored 0 or 1 means "screen for depression", Topp et al.
    2015). ``drop_alert_points``: a fall of at least this many points from the previous total is
    flagged (our session rating, CLINICAL.md §1).
    """

    code: str
    name: str
    version: str
    items: tuple[Item, ...]
    direction: Direction
    bands: tuple[Band, ...] = ()
    caseness_cutoff: float | None = None
    caseness_rule: str = ""
    reliable_change: float | None = None
    norms: Norms = field(default_factory=Norms)
    max_missing: int = 0
    total_multiplier: int = 1
    min_total: float = 0
    max_total: float = 0
    licence: str = ""
    has_item_text: bool = True
    loinc_panel: str | None = None
    loinc_total: str | None = None
    sources: tuple[str, ...] = ()
    instructions: str | None = None
    item_alert_at_or_below: int | None = None
    item_alert_label: str | None = None
    drop_alert_points: float | None = None
    risk_decision: RiskDecision = "none"

    @property
    def higher_is_better(self) -> bool:
        return self.direction == "higher_is_better"

    @property
    def decimals(self) -> int:
        """Decimal places of the total: 1 for ORS/SRS/session rating (0.1 steps), else 0."""
        return max((item.decimals for item in self.scored_items), default=0)

    @property
    def scored_items(self) -> tuple[Item, ...]:
        return tuple(item for item in self.items if item.scored)

    @property
    def critical_items(self) -> tuple[Item, ...]:
        return tuple(item for item in self.items if item.critical_above is not None)

    @property
    def subscales(self) -> tuple[str, ...]:
        names: list[str] = []
        for item in self.scored_items:
            if item.subscale and item.subscale not in names:
                names.append(item.subscale)
        return tuple(names)

    @property
    def can_be_sent(self) -> bool:
        """A form can only be shown to a client when every item has its text and someone has
        decided which of its items, if any, signal risk."""
        return self.has_item_text and self.risk_decision != "pending"

    def item(self, number: int) -> Item:
        for candidate in self.items:
            if candidate.number == number:
                return candidate
        raise KeyError(f"{self.code} has no item {number}")

    def band_for(self, total: float | None) -> str | None:
        if total is None:
            return None
        for band in self.bands:
            if band.contains(total):
                return band.label
        return None

    def is_case(self, total: float | None) -> bool | None:
        """Caseness by the published cutoff; None when there is no cutoff or no total."""
        if total is None or self.caseness_cutoff is None:
            return None
        if self.higher_is_better:
            return total < self.caseness_cutoff
        return total >= self.caseness_cutoff
