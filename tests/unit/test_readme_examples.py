"""The README's "Python API for researchers" examples run exactly as printed (pure: no Django)."""

import doctest
from pathlib import Path

README = Path(__file__).resolve().parents[2] / "README.md"


def test_the_readme_examples_print_what_the_readme_says():
    result = doctest.testfile(
        str(README),
        module_relative=False,
        optionflags=doctest.NORMALIZE_WHITESPACE,
        raise_on_error=False,
        verbose=False,
    )
    assert result.attempted >= 15, "the README's API examples are missing"
    assert result.failed == 0
