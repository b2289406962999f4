"""An accessibility audit with axe-core (vendored in ``vendor/``, see its README).

``audit(page)`` runs the WCAG 2.1 A and AA rules on the page as it is and returns the serious and
critical violations as readable lines, so a failing test says which rule, where and why. Pages
must come from the ``audit_page`` fixture: its browser context bypasses the Content Security
Policy, which would otherwise refuse the injected script (the app's own pages run under it).
"""

from pathlib import Path

AXE = Path(__file__).parent / "vendor" / "axe.min.js"
WCAG_21_AA = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]
BLOCKING = ("serious", "critical")


def audit(page) -> list[str]:
    """The serious and critical WCAG 2.1 A/AA violations on ``page``, one line per element."""
    if not page.evaluate("() => typeof window.axe !== 'undefined'"):
        page.add_script_tag(path=str(AXE))
    result = page.evaluate(
        "tags => axe.run(document, {runOnly: {type: 'tag', values: tags}})", WCAG_21_AA
    )
    return [
        f"{violation['id']} ({violation['impact']}): {node['target']} - {violation['help']}"
        for violation in result["violations"]
        if violation["impact"] in BLOCKING
        for node in violation["nodes"]
    ]
