"""Spreadsheet formula injection: a CSV cell that starts with = + - @ (or a tab or carriage
return) is run as a formula when a clinic admin opens the file in Excel or LibreOffice (OWASP,
"CSV Injection"). Such cells get a leading apostrophe, which the spreadsheet shows as text."""

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def neutralise_formula(value) -> str:
    text = "" if value is None else str(value)
    return f"'{text}" if text.startswith(FORMULA_STARTS) else text
