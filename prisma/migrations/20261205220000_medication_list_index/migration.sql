-- DropIndex
DROP INDEX "medications_care_circle_id_idx";

-- CreateIndex
CREATE INDEX "medications_care_circle_id_created_at_id_idx" ON "medications"("care_circle_id", "created_at", "id");
