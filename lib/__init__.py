"""The ground floor: small helpers every app may use, which import no app (healthchecks' hc/lib is
the model). Queueing a task after commit, the caller's address, encrypted model fields, planner
statistics after bulk writes, and neutralising spreadsheet formulas."""
