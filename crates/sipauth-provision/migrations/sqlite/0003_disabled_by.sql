-- Who disabled an account: NULL for an operator (`sipauth admin disable`), 'policy' when the
-- identity stopped passing the policy at a provision. Only a policy's disable is undone by the
-- identity passing again (with a new generation); an operator's stays until `enable`.
ALTER TABLE sipauth_account ADD COLUMN disabled_by TEXT;
