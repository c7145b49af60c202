-- Migration 0005: a version's recorded test results never change either.
CREATE TRIGGER anvil_version_immutable BEFORE UPDATE ON prompts_version
WHEN NEW.label IS NOT OLD.label OR NEW.snapshot IS NOT OLD.snapshot OR NEW.changelog IS NOT OLD.changelog
  OR NEW.sequence IS NOT OLD.sequence OR NEW.prompt_set_id IS NOT OLD.prompt_set_id
  OR NEW.created_at IS NOT OLD.created_at OR NEW.test_results IS NOT OLD.test_results
  OR (OLD.first_published_at IS NOT NULL AND NEW.first_published_at IS NOT OLD.first_published_at)
BEGIN SELECT RAISE(ABORT, 'anvil: a version can never be changed'); END;
