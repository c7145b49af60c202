-- See freeze_sqlite.sql: the same rules for PostgreSQL.
CREATE OR REPLACE FUNCTION anvil_prompt_frozen() RETURNS trigger AS $$
BEGIN
  IF TG_OP IN ('UPDATE', 'DELETE') AND
     (SELECT status FROM prompts_promptset WHERE id = OLD.prompt_set_id) <> 'live' THEN
    RAISE EXCEPTION 'anvil: the prompt set is not LIVE; its prompts cannot change';
  END IF;
  IF TG_OP IN ('INSERT', 'UPDATE') AND
     (SELECT status FROM prompts_promptset WHERE id = NEW.prompt_set_id) <> 'live' THEN
    RAISE EXCEPTION 'anvil: the prompt set is not LIVE; its prompts cannot change';
  END IF;
  IF TG_OP = 'DELETE' THEN RETURN OLD; END IF;
  RETURN NEW;
END $$ LANGUAGE plpgsql;

CREATE TRIGGER anvil_prompt_frozen BEFORE INSERT OR UPDATE OR DELETE ON prompts_prompt
FOR EACH ROW EXECUTE FUNCTION anvil_prompt_frozen();

CREATE OR REPLACE FUNCTION anvil_promptset_frozen() RETURNS trigger AS $$
BEGIN
  IF OLD.status <> 'live' THEN
    IF TG_OP = 'DELETE' THEN
      RAISE EXCEPTION 'anvil: the prompt set is not LIVE; it cannot be deleted';
    END IF;
    IF NEW.name IS DISTINCT FROM OLD.name OR NEW.slug IS DISTINCT FROM OLD.slug
       OR NEW.description IS DISTINCT FROM OLD.description OR NEW.metadata IS DISTINCT FROM OLD.metadata
       OR NEW.project_id IS DISTINCT FROM OLD.project_id THEN
      RAISE EXCEPTION 'anvil: the prompt set is not LIVE; only its status may change';
    END IF;
  END IF;
  IF TG_OP = 'DELETE' THEN RETURN OLD; END IF;
  RETURN NEW;
END $$ LANGUAGE plpgsql;

CREATE TRIGGER anvil_promptset_frozen BEFORE UPDATE OR DELETE ON prompts_promptset
FOR EACH ROW EXECUTE FUNCTION anvil_promptset_frozen();

CREATE OR REPLACE FUNCTION anvil_version_immutable() RETURNS trigger AS $$
BEGIN
  IF NEW.label IS DISTINCT FROM OLD.label OR NEW.snapshot IS DISTINCT FROM OLD.snapshot
     OR NEW.changelog IS DISTINCT FROM OLD.changelog OR NEW.sequence IS DISTINCT FROM OLD.sequence
     OR NEW.prompt_set_id IS DISTINCT FROM OLD.prompt_set_id OR NEW.created_at IS DISTINCT FROM OLD.created_at
     OR (OLD.first_published_at IS NOT NULL AND NEW.first_published_at IS DISTINCT FROM OLD.first_published_at) THEN
    RAISE EXCEPTION 'anvil: a version can never be changed';
  END IF;
  RETURN NEW;
END $$ LANGUAGE plpgsql;

CREATE TRIGGER anvil_version_immutable BEFORE UPDATE ON prompts_version
FOR EACH ROW EXECUTE FUNCTION anvil_version_immutable();
