-- A prompt set that is not LIVE keeps its content: its prompts cannot be added, changed or
-- removed, and only its status (and bookkeeping columns) may change. Versions never change
-- except for first_published_at. The service layer refuses first with a clear message;
-- these triggers make sure no other code path (raw SQL, bulk updates, admin) can.
CREATE TRIGGER anvil_prompt_frozen_insert BEFORE INSERT ON prompts_prompt
WHEN (SELECT status FROM prompts_promptset WHERE id = NEW.prompt_set_id) <> 'live'
BEGIN SELECT RAISE(ABORT, 'anvil: the prompt set is not LIVE; its prompts cannot change'); END;

CREATE TRIGGER anvil_prompt_frozen_update BEFORE UPDATE ON prompts_prompt
WHEN (SELECT status FROM prompts_promptset WHERE id = OLD.prompt_set_id) <> 'live'
  OR (SELECT status FROM prompts_promptset WHERE id = NEW.prompt_set_id) <> 'live'
BEGIN SELECT RAISE(ABORT, 'anvil: the prompt set is not LIVE; its prompts cannot change'); END;

CREATE TRIGGER anvil_prompt_frozen_delete BEFORE DELETE ON prompts_prompt
WHEN (SELECT status FROM prompts_promptset WHERE id = OLD.prompt_set_id) <> 'live'
BEGIN SELECT RAISE(ABORT, 'anvil: the prompt set is not LIVE; its prompts cannot change'); END;

CREATE TRIGGER anvil_promptset_frozen_update BEFORE UPDATE ON prompts_promptset
WHEN OLD.status <> 'live' AND (
  NEW.name IS NOT OLD.name OR NEW.slug IS NOT OLD.slug OR NEW.description IS NOT OLD.description
  OR NEW.metadata IS NOT OLD.metadata OR NEW.project_id IS NOT OLD.project_id)
BEGIN SELECT RAISE(ABORT, 'anvil: the prompt set is not LIVE; only its status may change'); END;

CREATE TRIGGER anvil_promptset_frozen_delete BEFORE DELETE ON prompts_promptset
WHEN OLD.status <> 'live'
BEGIN SELECT RAISE(ABORT, 'anvil: the prompt set is not LIVE; it cannot be deleted'); END;

CREATE TRIGGER anvil_version_immutable BEFORE UPDATE ON prompts_version
WHEN NEW.label IS NOT OLD.label OR NEW.snapshot IS NOT OLD.snapshot OR NEW.changelog IS NOT OLD.changelog
  OR NEW.sequence IS NOT OLD.sequence OR NEW.prompt_set_id IS NOT OLD.prompt_set_id
  OR NEW.created_at IS NOT OLD.created_at
  OR (OLD.first_published_at IS NOT NULL AND NEW.first_published_at IS NOT OLD.first_published_at)
BEGIN SELECT RAISE(ABORT, 'anvil: a version can never be changed'); END;
