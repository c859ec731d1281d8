-- Documents are private: no URL is stored; the API reads a file back from its store for a member
-- allowed to see it (Cloudinary: through a signed download URL that expires within a minute).
ALTER TABLE "documents" ADD COLUMN "provider_format" TEXT,
ADD COLUMN "delivery_type" TEXT;

-- Files uploaded earlier are public Cloudinary assets (delivery type "upload"): they stay readable
-- through the API. Their format is the extension of the URL kept until now (raw files have none).
UPDATE "documents"
SET "delivery_type" = 'upload',
    "provider_format" = CASE
        WHEN "provider_id" LIKE 'raw/%' THEN NULL
        ELSE substring("url" FROM '\.([A-Za-z0-9]+)$')
    END
WHERE "provider" = 'cloudinary' AND "url" IS NOT NULL;

-- AlterTable
ALTER TABLE "documents" DROP COLUMN "url";
