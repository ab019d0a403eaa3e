/**
 * The outbox (db/deliveries.ts): what the service tells other systems, stored with the state it describes and
 * delivered apart from the workflows that caused it. Two kinds of receiver share it: NetBox (journal entries and
 * stamps, domain/netbox-writeback.ts) and the notification destinations operators configure (webhooks and Slack,
 * domain/notifications.ts). Pure: names, states and the retry rule.
 */

/** Who a delivery belongs to: its summary shows on that apply job, deletion request or (a test) destination. */
export const DELIVERY_SUBJECT_TYPES = ['apply_job', 'deletion_request', 'notification_destination'] as const;
export type DeliverySubjectType = (typeof DELIVERY_SUBJECT_TYPES)[number];
export interface DeliverySubject { type: DeliverySubjectType; id: string }

/** Where a delivery goes: NetBox's journal or custom fields, or a notification destination of that kind. */
export const NETBOX_CHANNELS = ['netbox_journal', 'netbox_stamp'] as const;
export const NOTIFICATION_CHANNELS = ['webhook', 'slack'] as const;
export const DELIVERY_CHANNELS = [...NETBOX_CHANNELS, ...NOTIFICATION_CHANNELS] as const;
export type DeliveryChannel = (typeof DELIVERY_CHANNELS)[number];
export type NotificationChannel = (typeof NOTIFICATION_CHANNELS)[number];

export function isNotificationChannel(channel: string): channel is NotificationChannel {
  return (NOTIFICATION_CHANNELS as readonly string[]).includes(channel);
}

/** `skipped`: nothing to deliver there (the stamp custom fields do not exist in NetBox, the destination was removed). */
export const DELIVERY_STATUSES = ['pending', 'delivered', 'failed', 'skipped'] as const;
export type DeliveryStatus = (typeof DELIVERY_STATUSES)[number];

/**
 * Who receives a row: NetBox for both of its channels, else the destination. One receiver being down makes only its
 * own rows wait (db/deliveries.ts retryLater); the others of the same subject are delivered on time.
 */
export function receiverOf(row: { channel: string; destinationId: number | null }): string {
  return isNotificationChannel(row.channel) ? `destination:${row.destinationId ?? 'none'}` : 'netbox';
}

/** The wait before the next attempt after `attempts` failed ones: 5 s doubling up to 10 minutes. */
export function deliveryRetryDelayMs(attempts: number): number {
  return Math.min(10 * 60_000, 5_000 * 2 ** Math.max(0, Math.min(attempts - 1, 20)));
}

export interface DeliverySummary { pending: number; delivered: number; failed: number; skipped: number; lastError: string | null }

export const EMPTY_DELIVERY_SUMMARY: DeliverySummary = { pending: 0, delivered: 0, failed: 0, skipped: 0, lastError: null };
