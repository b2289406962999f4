"""The clinical core must load in a notebook that has only pandas and numpy: no Django, no apps."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PROJECT_APPS = ("accounts", "api", "audit", "clients", "config", "dashboards", "messaging",
                "outcomes", "privacy")  # fmt: skip


def test_the_clinical_core_imports_without_django_or_any_app():
    probe = (
        "import sys\n"
        "import measures.api, measures.rules, measures.trajectories, measures.instruments.fhir\n"
        "import measures.instruments.textpack\n"
        "loaded = {name.split('.')[0] for name in sys.modules}\n"
        f"print(sorted(loaded & {{'django', 'rest_framework', 'celery', *{PROJECT_APPS!r}}}))\n"
        "print(measures.api.score('phq9', [1, 2, 3, 1, 2, 3, 1, 2, 0])['total'])\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, check=True,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT)},
    )  # fmt: skip
    assert result.stdout.split("\n")[:2] == ["[]", "15"], result.stdout


def test_the_names_issue_16_gives_the_engine_are_the_pure_core_and_load_no_django():
    probe = (
        "import sys\n"
        "import outcomes.api, outcomes.rules, measures.api, measures.rules\n"
        "loaded = {name.split('.')[0] for name in sys.modules}\n"
        "print(sorted(loaded & {'django', 'rest_framework', 'celery'}))\n"
        "print(outcomes.rules is measures.rules,\n"
        "      outcomes.rules.evaluate is measures.rules.evaluate)\n"
        "print(outcomes.api.evaluate_alerts is measures.api.evaluate_alerts)\n"
        "print(outcomes.rules.RuleSettings() == measures.rules.RuleSettings())\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, check=True,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT)},
    )  # fmt: skip
    assert result.stdout.split("\n")[:4] == ["[]", "True True", "True", "True"], result.stdout
