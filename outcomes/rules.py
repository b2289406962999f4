"""The alert rules under the module name they had before the pure core moved to ``measures``.

Validation harnesses (issue 16's held-out cohort among them) feed histories "through
``outcomes.rules.evaluate``"; the rules now live in :mod:`measures.rules`, pure and without Django.
This module is an alias of that one, not a copy: ``outcomes.rules.evaluate is
measures.rules.evaluate``, settings objects are the same classes, and the shipped defaults are the
same. Importing it loads no Django (tests/unit/test_measures_is_pure.py).
"""

import sys

from measures import rules as _rules

# An alias rather than ``import *``: private helpers, module constants and monkeypatching in a
# harness then behave exactly as on measures.rules, and there is one set of defaults.
sys.modules[__name__] = _rules
