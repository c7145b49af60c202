-- Migration 0004: the set's model configuration defaults and dependencies are content too.
CREATE TRIGGER anvil_promptset_frozen_update BEFORE UPDATE ON prompts_promptset
WHEN OLD.status <> 'live' AND (
  NEW.name IS NOT OLD.name OR NEW.slug IS NOT OLD.slug OR NEW.description IS NOT OLD.description
  OR NEW.metadata IS NOT OLD.metadata OR NEW.project_id IS NOT OLD.project_id
  OR NEW.config IS NOT OLD.config OR NEW.dependencies IS NOT OLD.dependencies)
BEGIN SELECT RAISE(ABORT, 'anvil: the prompt set is not LIVE; only its status may change'); END;
