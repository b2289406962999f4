"""TRUNCATE of the audit log is refused too (0002 left it alone for the test runner).

A statement-level trigger raises on TRUNCATE unless the session has said, in so many words,
``SET LOCAL audit.allow_truncate = 'on'``: the test runner's flush between transactional tests
and the benchmarks' throwaway databases do; a console, a script or a migration that empties the
table by mistake does not. (Like the row trigger, this guards against accidents and tools, not
against the table's owner, who can drop triggers: that is what database roles are for.)
"""

from django.db import migrations

FORWARD = """
CREATE OR REPLACE FUNCTION audit_event_no_truncate() RETURNS trigger AS $$
BEGIN
    IF coalesce(current_setting('audit.allow_truncate', true), '') <> 'on' THEN
        RAISE EXCEPTION 'audit events are append-only (TRUNCATE refused)'
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER audit_event_no_truncate
    BEFORE TRUNCATE ON audit_auditevent
    FOR EACH STATEMENT EXECUTE FUNCTION audit_event_no_truncate();
"""

BACKWARD = """
DROP TRIGGER IF EXISTS audit_event_no_truncate ON audit_auditevent;
DROP FUNCTION IF EXISTS audit_event_no_truncate();
"""


def _on_postgresql(sql):
    def run(apps, schema_editor):
        if schema_editor.connection.vendor == "postgresql":
            schema_editor.execute(sql, params=None)

    return run


class Migration(migrations.Migration):
    dependencies = [("audit", "0002_append_only_trigger")]

    operations = [migrations.RunPython(_on_postgresql(FORWARD), _on_postgresql(BACKWARD))]
