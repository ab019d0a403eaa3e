CREATE TABLE "notification_destinations" (
	"id" serial PRIMARY KEY NOT NULL,
	"name" text NOT NULL,
	"kind" text NOT NULL,
	"url_sealed" text NOT NULL,
	"url_shown" text NOT NULL,
	"secret_sealed" text,
	"events" text[] NOT NULL,
	"enabled" boolean DEFAULT true NOT NULL,
	"created_by" text,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "notification_destinations_name_unique" UNIQUE("name")
);
--> statement-breakpoint
ALTER TABLE "deliveries" ADD COLUMN "destination_id" integer;--> statement-breakpoint
ALTER TABLE "settings" ADD COLUMN "deletion_reminder_lead_hours" integer DEFAULT 24 NOT NULL;--> statement-breakpoint
ALTER TABLE "deliveries" ADD CONSTRAINT "deliveries_destination_id_notification_destinations_id_fk" FOREIGN KEY ("destination_id") REFERENCES "public"."notification_destinations"("id") ON DELETE set null ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "deliveries_destination" ON "deliveries" USING btree ("destination_id","id");--> statement-breakpoint
ALTER TABLE "settings" ADD CONSTRAINT "settings_reminder_lead_min" CHECK ("settings"."deletion_reminder_lead_hours" >= 1);