-- CreateEnum
CREATE TYPE "WorkflowSync" AS ENUM ('starting', 'cancelling');

-- AlterTable
ALTER TABLE "medications" ADD COLUMN     "workflow_sync" "WorkflowSync";
