-- Migration 0005: a version's recorded test results never change either.
CREATE OR REPLACE FUNCTION anvil_version_immutable() RETURNS trigger AS $$
BEGIN
  IF NEW.label IS DISTINCT FROM OLD.label OR NEW.snapshot IS DISTINCT FROM OLD.snapshot
     OR NEW.changelog IS DISTINCT FROM OLD.changelog OR NEW.sequence IS DISTINCT FROM OLD.sequence
     OR NEW.prompt_set_id IS DISTINCT FROM OLD.prompt_set_id OR NEW.created_at IS DISTINCT FROM OLD.created_at
     OR NEW.test_results IS DISTINCT FROM OLD.test_results
     OR (OLD.first_published_at IS NOT NULL AND NEW.first_published_at IS DISTINCT FROM OLD.first_published_at) THEN
    RAISE EXCEPTION 'anvil: a version can never be changed';
  END IF;
  RETURN NEW;
END $$ LANGUAGE plpgsql;
