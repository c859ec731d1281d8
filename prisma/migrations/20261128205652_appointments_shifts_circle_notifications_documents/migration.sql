-- CreateEnum
CREATE TYPE "AppointmentStatus" AS ENUM ('scheduled', 'cancelled', 'completed');

-- CreateEnum
CREATE TYPE "ShiftStatus" AS ENUM ('scheduled', 'cancelled', 'completed');

-- CreateEnum
CREATE TYPE "CircleNotificationStatus" AS ENUM ('sending', 'completed');

-- CreateEnum
CREATE TYPE "RecipientStatus" AS ENUM ('pending', 'deferred', 'delivered', 'failed');

-- CreateEnum
CREATE TYPE "DocumentStatus" AS ENUM ('pending', 'uploading', 'uploaded', 'failed');

-- AlterTable
ALTER TABLE "members" ADD COLUMN     "quiet_hours_end" TEXT,
ADD COLUMN     "quiet_hours_start" TEXT;

-- CreateTable
CREATE TABLE "appointments" (
    "id" UUID NOT NULL,
    "care_circle_id" UUID NOT NULL,
    "patient_id" UUID NOT NULL,
    "title" TEXT NOT NULL,
    "location" TEXT,
    "starts_at" TIMESTAMP(3) NOT NULL,
    "timezone" TEXT NOT NULL,
    "attendee_ids" UUID[],
    "reminder_offsets_minutes" INTEGER[],
    "status" "AppointmentStatus" NOT NULL DEFAULT 'scheduled',
    "version" INTEGER NOT NULL DEFAULT 1,
    "workflow_id" TEXT NOT NULL,
    "created_at" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updated_at" TIMESTAMP(3) NOT NULL,

    CONSTRAINT "appointments_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "shifts" (
    "id" UUID NOT NULL,
    "care_circle_id" UUID NOT NULL,
    "title" TEXT,
    "starts_at" TIMESTAMP(3) NOT NULL,
    "ends_at" TIMESTAMP(3) NOT NULL,
    "assignee_id" UUID,
    "reminder_lead_minutes" INTEGER NOT NULL,
    "unassigned_alert_minutes" INTEGER NOT NULL,
    "status" "ShiftStatus" NOT NULL DEFAULT 'scheduled',
    "version" INTEGER NOT NULL DEFAULT 1,
    "workflow_id" TEXT NOT NULL,
    "created_at" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updated_at" TIMESTAMP(3) NOT NULL,

    CONSTRAINT "shifts_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "circle_notifications" (
    "id" UUID NOT NULL,
    "care_circle_id" UUID NOT NULL,
    "title" TEXT NOT NULL,
    "body" TEXT NOT NULL,
    "urgent" BOOLEAN NOT NULL DEFAULT false,
    "status" "CircleNotificationStatus" NOT NULL DEFAULT 'sending',
    "workflow_id" TEXT NOT NULL,
    "created_at" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "completed_at" TIMESTAMP(3),

    CONSTRAINT "circle_notifications_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "circle_notification_recipients" (
    "notification_id" UUID NOT NULL,
    "member_id" UUID NOT NULL,
    "status" "RecipientStatus" NOT NULL DEFAULT 'pending',
    "deferred_until" TIMESTAMP(3),
    "delivered_via" "Channel"[] DEFAULT ARRAY[]::"Channel"[],
    "fell_back" BOOLEAN NOT NULL DEFAULT false,
    "error" TEXT,
    "updated_at" TIMESTAMP(3) NOT NULL,

    CONSTRAINT "circle_notification_recipients_pkey" PRIMARY KEY ("notification_id","member_id")
);

-- CreateTable
CREATE TABLE "documents" (
    "id" UUID NOT NULL,
    "care_circle_id" UUID NOT NULL,
    "filename" TEXT NOT NULL,
    "content_type" TEXT NOT NULL,
    "size_bytes" INTEGER NOT NULL,
    "sha256" TEXT NOT NULL,
    "status" "DocumentStatus" NOT NULL DEFAULT 'pending',
    "uploaded_bytes" INTEGER NOT NULL DEFAULT 0,
    "url" TEXT,
    "provider" TEXT,
    "provider_id" TEXT,
    "error" TEXT,
    "attempts" INTEGER NOT NULL DEFAULT 0,
    "workflow_id" TEXT NOT NULL,
    "created_at" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updated_at" TIMESTAMP(3) NOT NULL,
    "uploaded_at" TIMESTAMP(3),

    CONSTRAINT "documents_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "document_blobs" (
    "document_id" UUID NOT NULL,
    "data" BYTEA NOT NULL,

    CONSTRAINT "document_blobs_pkey" PRIMARY KEY ("document_id")
);

-- CreateIndex
CREATE UNIQUE INDEX "appointments_workflow_id_key" ON "appointments"("workflow_id");

-- CreateIndex
CREATE INDEX "appointments_care_circle_id_starts_at_idx" ON "appointments"("care_circle_id", "starts_at");

-- CreateIndex
CREATE UNIQUE INDEX "shifts_workflow_id_key" ON "shifts"("workflow_id");

-- CreateIndex
CREATE INDEX "shifts_care_circle_id_starts_at_idx" ON "shifts"("care_circle_id", "starts_at");

-- CreateIndex
CREATE INDEX "shifts_assignee_id_idx" ON "shifts"("assignee_id");

-- CreateIndex
CREATE UNIQUE INDEX "circle_notifications_workflow_id_key" ON "circle_notifications"("workflow_id");

-- CreateIndex
CREATE INDEX "circle_notifications_care_circle_id_created_at_idx" ON "circle_notifications"("care_circle_id", "created_at");

-- CreateIndex
CREATE INDEX "circle_notification_recipients_member_id_idx" ON "circle_notification_recipients"("member_id");

-- CreateIndex
CREATE UNIQUE INDEX "documents_workflow_id_key" ON "documents"("workflow_id");

-- CreateIndex
CREATE INDEX "documents_care_circle_id_created_at_idx" ON "documents"("care_circle_id", "created_at");

-- AddForeignKey
ALTER TABLE "appointments" ADD CONSTRAINT "appointments_care_circle_id_fkey" FOREIGN KEY ("care_circle_id") REFERENCES "care_circles"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "appointments" ADD CONSTRAINT "appointments_patient_id_fkey" FOREIGN KEY ("patient_id") REFERENCES "members"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "shifts" ADD CONSTRAINT "shifts_care_circle_id_fkey" FOREIGN KEY ("care_circle_id") REFERENCES "care_circles"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "shifts" ADD CONSTRAINT "shifts_assignee_id_fkey" FOREIGN KEY ("assignee_id") REFERENCES "members"("id") ON DELETE SET NULL ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "circle_notifications" ADD CONSTRAINT "circle_notifications_care_circle_id_fkey" FOREIGN KEY ("care_circle_id") REFERENCES "care_circles"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "circle_notification_recipients" ADD CONSTRAINT "circle_notification_recipients_notification_id_fkey" FOREIGN KEY ("notification_id") REFERENCES "circle_notifications"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "circle_notification_recipients" ADD CONSTRAINT "circle_notification_recipients_member_id_fkey" FOREIGN KEY ("member_id") REFERENCES "members"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "documents" ADD CONSTRAINT "documents_care_circle_id_fkey" FOREIGN KEY ("care_circle_id") REFERENCES "care_circles"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "document_blobs" ADD CONSTRAINT "document_blobs_document_id_fkey" FOREIGN KEY ("document_id") REFERENCES "documents"("id") ON DELETE CASCADE ON UPDATE CASCADE;
