"""Make the audit log append-only in the database itself (PostgreSQL), not only in the ORM.

An UPDATE or DELETE raises, whoever sends it: a raw SQL console, a bulk ``QuerySet.update``, a
buggy migration. One UPDATE is allowed: setting ``actor``, ``clinic`` or ``client`` to NULL, which
is what Django's ``on_delete=SET_NULL`` sends when a staff account is removed or a client erased
(GDPR); the row keeps ``actor_label`` and ``object_id``, so the trail stays readable. TRUNCATE is
left alone because the test runner empties tables with it between transactional tests.
"""

from django.db import migrations

FORWARD = """
CREATE OR REPLACE FUNCTION audit_event_append_only() RETURNS trigger AS $$
DECLARE
    unlinkable CONSTANT text[] := ARRAY['actor_id', 'clinic_id', 'client_id'];
BEGIN
    IF TG_OP = 'DELETE' THEN
        RAISE EXCEPTION 'audit events are append-only (DELETE refused)'
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    IF (to_jsonb(NEW) - unlinkable) IS DISTINCT FROM (to_jsonb(OLD) - unlinkable)
       OR (NEW.actor_id IS NOT NULL AND NEW.actor_id IS DISTINCT FROM OLD.actor_id)
       OR (NEW.clinic_id IS NOT NULL AND NEW.clinic_id IS DISTINCT FROM OLD.clinic_id)
       OR (NEW.client_id IS NOT NULL AND NEW.client_id IS DISTINCT FROM OLD.client_id) THEN
        RAISE EXCEPTION 'audit events are append-only (UPDATE refused)'
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    RETURN NEW;
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER audit_event_append_only
    BEFORE UPDATE OR DELETE ON audit_auditevent
    FOR EACH ROW EXECUTE FUNCTION audit_event_append_only();
"""

BACKWARD = """
DROP TRIGGER IF EXISTS audit_event_append_only ON audit_auditevent;
DROP FUNCTION IF EXISTS audit_event_append_only();
"""


def _on_postgresql(sql):
    def run(apps, schema_editor):
        if schema_editor.connection.vendor == "postgresql":
            schema_editor.execute(sql, params=None)

    return run


class Migration(migrations.Migration):
    dependencies = [("audit", "0001_initial")]

    operations = [migrations.RunPython(_on_postgresql(FORWARD), _on_postgresql(BACKWARD))]
