-- The medication workflow's projection: reads are served from here, and every write carries the
-- state's revision so that an older write never overwrites a newer one.
ALTER TABLE "medications"
  ADD COLUMN "state_revision" INTEGER NOT NULL DEFAULT 0,
  ADD COLUMN "schedule_generation" INTEGER NOT NULL DEFAULT 0,
  ADD COLUMN "next_dose_at" TIMESTAMP(3),
  ADD COLUMN "last_dose_at" TIMESTAMP(3),
  ADD COLUMN "reminders_sent" INTEGER NOT NULL DEFAULT 0,
  ADD COLUMN "open_doses" JSONB NOT NULL DEFAULT '[]';
