"""An alert's reason in a few words, for the caseload row: what a therapist scanning the list
needs first ("Risk item endorsed (self-harm thoughts)"), before the full sentence on the client
page. One vocabulary, the alert rule's, so the caseload, the alert cards and the mails agree."""

# Which item a risk alert is about, per instrument, in the words of the item's construct (the
# item text itself is licensed per instrument and is not needed to say why).
RISK_ITEM_CONSTRUCT = {"phq9": "self-harm thoughts"}

SEVERITY_RANK = {"urgent": 0, "high": 1, "warning": 2}


def alert_reason_short(*, rule: str, instrument_name: str = "", instrument: str = "") -> str:
    on = f" on {instrument_name}" if instrument_name else ""
    if rule == "risk_item":
        construct = RISK_ITEM_CONSTRUCT.get(instrument)
        return f"Risk item endorsed ({construct})" if construct else f"Risk item endorsed{on}"
    return {
        "contact_request": "Asked to be contacted",
        "reliable_deterioration": f"Reliably worse{on} since intake",
        "not_on_track": f"Worse than expected{on}",
        "sudden_loss": f"Sudden rise{on}",
        "alliance_concern": "Alliance rating below 36",
        "disengagement": "Missed check-ins",
        "opted_out": "Opted out of check-in e-mails",
    }.get(rule, "Needs review")
