-- One device may serve several members: a token is unique per member. Existing tokens were unique
-- across members, so every row is kept as it is.

-- DropIndex
DROP INDEX "push_tokens_member_id_idx";

-- DropIndex
DROP INDEX "push_tokens_token_key";

-- CreateIndex
CREATE INDEX "push_tokens_token_idx" ON "push_tokens"("token");

-- CreateIndex
CREATE UNIQUE INDEX "push_tokens_member_id_token_key" ON "push_tokens"("member_id", "token");
