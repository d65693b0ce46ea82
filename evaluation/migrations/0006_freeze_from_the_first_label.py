"""The freeze keys on the campaign's first label ever given, not on labels existing now: deleting every label of a
campaign does not reopen its registered values. PostgreSQL: the database stamps the campaign's first label and keeps
the stamp; SQLite (embedded mode) has no triggers, see 0004."""

from django.db import migrations

FREEZE_SQL = """
CREATE OR REPLACE FUNCTION creative_has_labels(campaign bigint) RETURNS boolean AS $$
    SELECT EXISTS (SELECT 1 FROM annotation_label WHERE campaign_id = campaign)
        OR EXISTS (SELECT 1 FROM annotation_campaign WHERE id = campaign AND first_label_at IS NOT NULL)
$$ LANGUAGE sql STABLE;

CREATE OR REPLACE FUNCTION creative_note_first_label() RETURNS trigger AS $$
BEGIN
    UPDATE annotation_campaign AS c SET first_label_at = f.first
      FROM (SELECT campaign_id, MIN(created_at) AS first FROM new_labels GROUP BY campaign_id) AS f
     WHERE c.id = f.campaign_id AND c.first_label_at IS NULL;
    RETURN NULL;
END $$ LANGUAGE plpgsql;

CREATE TRIGGER creative_note_first_label AFTER INSERT ON annotation_label
    REFERENCING NEW TABLE AS new_labels FOR EACH STATEMENT EXECUTE FUNCTION creative_note_first_label();

CREATE OR REPLACE FUNCTION creative_keep_first_label() RETURNS trigger AS $$
BEGIN
    IF OLD.first_label_at IS NOT NULL THEN
        NEW.first_label_at := OLD.first_label_at;  -- once stamped, never cleared or moved
    END IF;
    RETURN NEW;
END $$ LANGUAGE plpgsql;

CREATE TRIGGER creative_keep_first_label BEFORE UPDATE ON annotation_campaign
    FOR EACH ROW EXECUTE FUNCTION creative_keep_first_label();
"""

UNFREEZE_SQL = """
DROP TRIGGER IF EXISTS creative_keep_first_label ON annotation_campaign;
DROP TRIGGER IF EXISTS creative_note_first_label ON annotation_label;
DROP FUNCTION IF EXISTS creative_keep_first_label();
DROP FUNCTION IF EXISTS creative_note_first_label();
CREATE OR REPLACE FUNCTION creative_has_labels(campaign bigint) RETURNS boolean AS $$
    SELECT EXISTS (SELECT 1 FROM annotation_label WHERE campaign_id = campaign)
$$ LANGUAGE sql STABLE;
"""


def freeze(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(FREEZE_SQL, params=None)


def unfreeze(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(UNFREEZE_SQL, params=None)


class Migration(migrations.Migration):

    dependencies = [
        ("annotation", "0010_campaign_first_label_at"),
        ("evaluation", "0005_merge_20261202_0845"),
    ]

    operations = [
        migrations.RunPython(freeze, unfreeze),
    ]
