-- When the provider call of a still pending notification started: set when the call starts,
-- cleared with its outcome. Still set on a retry, the previous call's outcome is unknown.
ALTER TABLE "notification_log" ADD COLUMN "call_started_at" TIMESTAMP(3);

-- The schedule generation of the newest armed send that claimed a row: a cancelled older send
-- withdraws only rows it still owns, never those a newer send is about to send.
ALTER TABLE "notification_log" ADD COLUMN "armed_generation" INTEGER;
