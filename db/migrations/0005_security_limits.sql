CREATE TABLE "quotas" (
	"key" text PRIMARY KEY NOT NULL,
	"entries" jsonb DEFAULT '[]'::jsonb NOT NULL,
	"expires_at" timestamp with time zone NOT NULL
);
--> statement-breakpoint
ALTER TABLE "apply_jobs" ADD COLUMN "workflow_started_at" timestamp with time zone;--> statement-breakpoint
ALTER TABLE "apply_jobs" ADD COLUMN "start_claimed_at" timestamp with time zone;--> statement-breakpoint
ALTER TABLE "apply_jobs" ADD COLUMN "claimed_merged_by" text;--> statement-breakpoint
ALTER TABLE "apply_jobs" ADD COLUMN "reapplied_by" text;--> statement-breakpoint
ALTER TABLE "apply_jobs" ADD COLUMN "reapplied_at" timestamp with time zone;--> statement-breakpoint
ALTER TABLE "apply_jobs" ADD COLUMN "reapply_confirmation" text;--> statement-breakpoint
CREATE INDEX "quotas_expires" ON "quotas" USING btree ("expires_at");--> statement-breakpoint
CREATE UNIQUE INDEX "apply_jobs_one_per_merge" ON "apply_jobs" USING btree ("branch_schema_id","merged_at");