"""The clinical core: instruments, scores, change statistics, recovery curves and alert rules.

Pure Python over numbers and DataFrames. It imports nothing of Django or of the project's apps
(an import-linter contract holds it to that), so a notebook with only pandas and numpy can use
it: ``from measures import api``. The Django side (administrations, alerts, evaluation,
notifications) lives in ``outcomes/``.
"""
