-- AlterTable
ALTER TABLE "idempotency_records" DROP CONSTRAINT "idempotency_records_pkey",
ADD COLUMN     "user_id" TEXT NOT NULL DEFAULT '',
ADD CONSTRAINT "idempotency_records_pkey" PRIMARY KEY ("user_id", "key", "method", "path");

-- AlterTable
ALTER TABLE "members" ADD COLUMN     "user_id" TEXT;

-- CreateIndex
CREATE INDEX "members_user_id_idx" ON "members"("user_id");

-- CreateIndex
CREATE UNIQUE INDEX "members_care_circle_id_user_id_key" ON "members"("care_circle_id", "user_id");
