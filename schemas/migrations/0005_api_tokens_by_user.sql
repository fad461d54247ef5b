-- Revoking all of a user's tokens (DELETE /api/v1/users/{id}/tokens) and the cascade when a user
-- is deleted find the tokens by user; without this index both scan the whole token table.
-- (Purging expired tokens uses api_tokens_expiry from 0001.)
CREATE INDEX api_tokens_user ON api_tokens (user_id);
