-- Migration 0004: the set's model configuration defaults and dependencies are content too.
CREATE OR REPLACE FUNCTION anvil_promptset_frozen() RETURNS trigger AS $$
BEGIN
  IF OLD.status <> 'live' THEN
    IF TG_OP = 'DELETE' THEN
      RAISE EXCEPTION 'anvil: the prompt set is not LIVE; it cannot be deleted';
    END IF;
    IF NEW.name IS DISTINCT FROM OLD.name OR NEW.slug IS DISTINCT FROM OLD.slug
       OR NEW.description IS DISTINCT FROM OLD.description OR NEW.metadata IS DISTINCT FROM OLD.metadata
       OR NEW.project_id IS DISTINCT FROM OLD.project_id
       OR NEW.config IS DISTINCT FROM OLD.config OR NEW.dependencies IS DISTINCT FROM OLD.dependencies THEN
      RAISE EXCEPTION 'anvil: the prompt set is not LIVE; only its status may change';
    END IF;
  END IF;
  IF TG_OP = 'DELETE' THEN RETURN OLD; END IF;
  RETURN NEW;
END $$ LANGUAGE plpgsql;
