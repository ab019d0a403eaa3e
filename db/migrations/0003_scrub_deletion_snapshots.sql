-- Deletion snapshots written before this release kept every custom field of the deleted VM, cloud-init user-data and
-- passwords included. Keep only the fields domain/change-plan.ts SNAPSHOT_CUSTOM_FIELDS lists.
UPDATE "deletion_requests"
SET "metadata_snapshot" = jsonb_set("metadata_snapshot", '{customFields}', COALESCE((
  SELECT jsonb_object_agg(e.key, e.value)
  FROM jsonb_each("metadata_snapshot"->'customFields') AS e
  WHERE e.key IN ('proxmox_vm_id', 'proxmox_vm_type', 'proxmox_node', 'proxmox_endpoint_id', 'proxmox_storage', 'proxmox_iso',
                  'proxmox_ostemplate', 'proxmox_template_vmid', 'proxmox_rootfs', 'proxmox_swap')
    AND e.value <> 'null'::jsonb
), '{}'::jsonb))
WHERE jsonb_typeof("metadata_snapshot"->'customFields') = 'object';
