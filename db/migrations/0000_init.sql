CREATE TABLE "api_tokens" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"user_id" integer NOT NULL,
	"description" text DEFAULT '' NOT NULL,
	"token_hash" text NOT NULL,
	"prefix" text NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"last_used_at" timestamp with time zone,
	"revoked_at" timestamp with time zone,
	CONSTRAINT "api_tokens_token_hash_unique" UNIQUE("token_hash")
);
--> statement-breakpoint
CREATE TABLE "apply_events" (
	"id" bigserial PRIMARY KEY NOT NULL,
	"job_id" uuid NOT NULL,
	"type" text NOT NULL,
	"dedupe_key" text,
	"data" jsonb NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "apply_jobs" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"workflow_id" text NOT NULL,
	"run_uuid" text NOT NULL,
	"branch_id" integer NOT NULL,
	"branch_schema_id" text NOT NULL,
	"branch_name" text NOT NULL,
	"merged_at" timestamp with time zone NOT NULL,
	"username" text,
	"state" text DEFAULT 'queued' NOT NULL,
	"source" text NOT NULL,
	"error" text,
	"drift" jsonb DEFAULT '{}'::jsonb NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"started_at" timestamp with time zone,
	"finished_at" timestamp with time zone,
	CONSTRAINT "apply_jobs_workflow_id_unique" UNIQUE("workflow_id")
);
--> statement-breakpoint
CREATE TABLE "apply_results" (
	"job_id" uuid NOT NULL,
	"key" text NOT NULL,
	"vmid" integer,
	"netbox_id" integer,
	"name" text,
	"op" text NOT NULL,
	"kind" text,
	"status" text NOT NULL,
	"reason" text,
	"message" text DEFAULT '' NOT NULL,
	"proxmox_upid" text,
	"deletion_request_id" integer,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "apply_results_job_id_key_pk" PRIMARY KEY("job_id","key")
);
--> statement-breakpoint
CREATE TABLE "backend" (
	"id" integer PRIMARY KEY DEFAULT 1 NOT NULL,
	"url" text NOT NULL,
	"api_key" text NOT NULL,
	"timeout_ms" integer DEFAULT 30000 NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "backend_singleton" CHECK ("backend"."id" = 1)
);
--> statement-breakpoint
CREATE TABLE "deletion_requests" (
	"id" serial PRIMARY KEY NOT NULL,
	"workflow_id" text NOT NULL,
	"state" text DEFAULT 'pending' NOT NULL,
	"vmid" integer NOT NULL,
	"node" text NOT NULL,
	"kind" text NOT NULL,
	"name" text NOT NULL,
	"netbox_id" integer NOT NULL,
	"change_diff_id" integer NOT NULL,
	"cluster_key" text,
	"endpoint_id" integer NOT NULL,
	"branch_id" integer NOT NULL,
	"branch_schema_id" text NOT NULL,
	"branch_name" text NOT NULL,
	"apply_job_id" uuid,
	"requested_by" text NOT NULL,
	"requested_at" timestamp with time zone DEFAULT now() NOT NULL,
	"expires_at" timestamp with time zone NOT NULL,
	"authorizer" text,
	"decided_at" timestamp with time zone,
	"executed_at" timestamp with time zone,
	"finished_at" timestamp with time zone,
	"reason" text,
	"backend_record_id" integer,
	"proxmox_upid" text,
	"tagged_pending_deletion" boolean DEFAULT false NOT NULL,
	"metadata_snapshot" jsonb NOT NULL,
	"history" jsonb DEFAULT '[]'::jsonb NOT NULL,
	CONSTRAINT "deletion_requests_workflow_id_unique" UNIQUE("workflow_id")
);
--> statement-breakpoint
CREATE TABLE "proxmox_endpoints" (
	"id" serial PRIMARY KEY NOT NULL,
	"name" text NOT NULL,
	"backend_endpoint_id" integer NOT NULL,
	"allow_writes" boolean DEFAULT false NOT NULL,
	"clusters" text[] DEFAULT '{}'::text[] NOT NULL,
	"is_default" boolean DEFAULT false NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "proxmox_endpoints_name_unique" UNIQUE("name")
);
--> statement-breakpoint
CREATE TABLE "settings" (
	"id" integer PRIMARY KEY DEFAULT 1 NOT NULL,
	"netbox_to_proxmox_enabled" boolean DEFAULT false NOT NULL,
	"typed_confirmation" text,
	"self_approve_allowed" boolean DEFAULT false NOT NULL,
	"deletion_request_ttl_days" integer DEFAULT 7 NOT NULL,
	"warn_plaintext_password" boolean DEFAULT true NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_by" text,
	CONSTRAINT "settings_singleton" CHECK ("settings"."id" = 1),
	CONSTRAINT "settings_ttl_min" CHECK ("settings"."deletion_request_ttl_days" >= 1)
);
--> statement-breakpoint
CREATE TABLE "users" (
	"id" serial PRIMARY KEY NOT NULL,
	"username" text NOT NULL,
	"permissions" text[] DEFAULT '{}'::text[] NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "users_username_unique" UNIQUE("username")
);
--> statement-breakpoint
ALTER TABLE "api_tokens" ADD CONSTRAINT "api_tokens_user_id_users_id_fk" FOREIGN KEY ("user_id") REFERENCES "public"."users"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "apply_events" ADD CONSTRAINT "apply_events_job_id_apply_jobs_id_fk" FOREIGN KEY ("job_id") REFERENCES "public"."apply_jobs"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "apply_results" ADD CONSTRAINT "apply_results_job_id_apply_jobs_id_fk" FOREIGN KEY ("job_id") REFERENCES "public"."apply_jobs"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "deletion_requests" ADD CONSTRAINT "deletion_requests_endpoint_id_proxmox_endpoints_id_fk" FOREIGN KEY ("endpoint_id") REFERENCES "public"."proxmox_endpoints"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "deletion_requests" ADD CONSTRAINT "deletion_requests_apply_job_id_apply_jobs_id_fk" FOREIGN KEY ("apply_job_id") REFERENCES "public"."apply_jobs"("id") ON DELETE set null ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "apply_events_job" ON "apply_events" USING btree ("job_id","id");--> statement-breakpoint
CREATE UNIQUE INDEX "apply_events_dedupe" ON "apply_events" USING btree ("job_id","dedupe_key");--> statement-breakpoint
CREATE INDEX "apply_jobs_branch" ON "apply_jobs" USING btree ("branch_id");--> statement-breakpoint
CREATE INDEX "apply_jobs_state" ON "apply_jobs" USING btree ("state");--> statement-breakpoint
CREATE INDEX "deletion_requests_state" ON "deletion_requests" USING btree ("state");--> statement-breakpoint
CREATE INDEX "deletion_requests_branch" ON "deletion_requests" USING btree ("branch_id");--> statement-breakpoint
CREATE INDEX "deletion_requests_vmid" ON "deletion_requests" USING btree ("vmid");--> statement-breakpoint
CREATE UNIQUE INDEX "proxmox_endpoints_one_default" ON "proxmox_endpoints" USING btree ("is_default") WHERE "proxmox_endpoints"."is_default";