-- AlterEnum
ALTER TYPE "DeadLetterStatus" ADD VALUE 'retrying';

-- AlterTable
ALTER TABLE "dead_letters" ADD COLUMN     "last_retried_at" TIMESTAMP(3),
ADD COLUMN     "retry_count" INTEGER NOT NULL DEFAULT 0,
ADD COLUMN     "retry_workflow_id" TEXT;
