CREATE TABLE "apply_work_items" (
	"job_id" uuid NOT NULL,
	"seq" integer NOT NULL,
	"key" text NOT NULL,
	"vmid" integer NOT NULL,
	"netbox_id" integer NOT NULL,
	"name" text NOT NULL,
	"op" text NOT NULL,
	"kind" text NOT NULL,
	"node" text NOT NULL,
	"sealed_item" text NOT NULL,
	CONSTRAINT "apply_work_items_job_id_seq_pk" PRIMARY KEY("job_id","seq")
);
--> statement-breakpoint
ALTER TABLE "apply_work_items" ADD CONSTRAINT "apply_work_items_job_id_apply_jobs_id_fk" FOREIGN KEY ("job_id") REFERENCES "public"."apply_jobs"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
CREATE UNIQUE INDEX "apply_work_items_key" ON "apply_work_items" USING btree ("job_id","key");