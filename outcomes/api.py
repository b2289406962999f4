"""The outcome engine's public, pure entry under the name issue 16 gives it (``outcomes.api``).

The clinical core lives in :mod:`measures` (docs/architecture.md: it imports no Django, so a
notebook or an external validation harness can load it with pandas and numpy alone). This module
re-exports that core's public API unchanged, so ``outcomes.api.evaluate_alerts`` and
``measures.api.evaluate_alerts`` are one function. Importing it loads no Django: ``outcomes``'s
package ``__init__`` is empty and nothing here touches models (tests/unit/test_measures_is_pure.py).
"""

from measures.api import *  # noqa: F403 (the public API, as measures.api.__all__ names it)
from measures.api import __all__  # noqa: F401
