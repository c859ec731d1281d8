-- CreateEnum
CREATE TYPE "DoseSource" AS ENUM ('schedule', 'as_needed');

-- AlterEnum
ALTER TYPE "DoseStatus" ADD VALUE 'snoozed';

-- AlterTable
ALTER TABLE "dose_events" ADD COLUMN     "acknowledged_at" TIMESTAMP(3),
ADD COLUMN     "acknowledged_by_id" UUID,
ADD COLUMN     "late" BOOLEAN NOT NULL DEFAULT false,
ADD COLUMN     "snoozed_until" TIMESTAMP(3),
ADD COLUMN     "source" "DoseSource" NOT NULL DEFAULT 'schedule';

-- AlterTable
ALTER TABLE "medications" ADD COLUMN     "escalation_window_minutes" INTEGER NOT NULL DEFAULT 30,
ADD COLUMN     "follow_patient_timezone" BOOLEAN NOT NULL DEFAULT true,
ADD COLUMN     "pill_count" INTEGER,
ADD COLUMN     "pills_per_dose" INTEGER NOT NULL DEFAULT 1,
ADD COLUMN     "refill_alerted_at" TIMESTAMP(3),
ADD COLUMN     "refill_threshold_days" INTEGER NOT NULL DEFAULT 7;

-- CreateIndex
CREATE INDEX "dose_events_medication_id_status_idx" ON "dose_events"("medication_id", "status");

-- AddForeignKey
ALTER TABLE "dose_events" ADD CONSTRAINT "dose_events_acknowledged_by_id_fkey" FOREIGN KEY ("acknowledged_by_id") REFERENCES "members"("id") ON DELETE SET NULL ON UPDATE CASCADE;
