import type { ApplyReason, GateReason } from './result-reasons';

/**
 * proxbox-api reports most failed writes with `reason: null` and Proxmox's own error text (proxbox-api.md §5.5, §5.7).
 * Operators filter and alert on reason codes, so the texts Proxmox is known to produce map to one; anything else
 * stays `proxbox_rejected` with the text as the message.
 */
const KNOWN_FAILURES: readonly [RegExp, GateReason | ApplyReason][] = [
  [/writes_disabled_for_endpoint/, 'writes_disabled_for_endpoint'],
  [/already exists/i, 'vmid_in_use'],
  // An unknown node: Proxmox tries to resolve its name to forward the call.
  [/hostname lookup '[^']*' failed/i, 'node_not_found'],
  [/storage '[^']*' does not exist/i, 'storage_not_found'],
  // Only a container create names its template volume; a missing disk volume on an update stays generic.
  [/unable to create CT \d+ - volume '[^']*' does not exist/i, 'template_not_found'],
];

export function failureReasonOf(message: string): GateReason | ApplyReason {
  return KNOWN_FAILURES.find(([pattern]) => pattern.test(message))?.[1] ?? 'proxbox_rejected';
}
