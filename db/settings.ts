import { and, eq, getTableColumns, inArray, sql } from 'drizzle-orm';
import type { Db } from './client';
import { record } from './audit-log';
import { deletionRequests, settings } from './schema';
import { diffForAudit } from '../domain/audit';
import { applySettingsChange, DEFAULT_SETTINGS, type IntentSettings, type SettingsChange, type SettingsDecision } from '../domain/settings';
import { issuerChainFor, type Actor } from '../domain/tokens';

type SettingsRow = typeof settings.$inferSelect;

/** The one mapping from the settings row to IntentSettings (SettingsStore and the gate facts). */
export const settingsOfRow = (row: SettingsRow): IntentSettings => ({
  netboxToProxmoxEnabled: row.netboxToProxmoxEnabled,
  typedConfirmation: row.typedConfirmation,
  selfApproveAllowed: row.selfApproveAllowed,
  deletionRequestTtlDays: row.deletionRequestTtlDays,
  warnPlaintextPassword: row.warnPlaintextPassword,
  tokenLifetimeDays: row.tokenLifetimeDays,
  deletionReminderLeadHours: row.deletionReminderLeadHours,
});

/** The settings row as `to_json(settings)` renders it (keyed by column name), through the same mapping. */
export function settingsOfJson(json: Record<string, unknown>): IntentSettings {
  const row = Object.fromEntries(Object.entries(getTableColumns(settings)).map(([field, column]) => [field, json[column.name]]));
  return settingsOfRow(row as SettingsRow);
}

export class SettingsStore {
  constructor(private readonly db: Db) {}

  async get(): Promise<IntentSettings> {
    const [row] = await this.db.select().from(settings).where(sql`${settings.id} = 1`);
    return row ? settingsOfRow(row) : { ...DEFAULT_SETTINGS };
  }

  /**
   * Applies a change under a row lock so two concurrent writers cannot interleave the phrase rules; the audit row is
   * written in the same transaction. A refused change writes nothing.
   */
  async update(change: SettingsChange, actor: Actor | string): Promise<SettingsDecision> {
    const by: Actor = typeof actor === 'string' ? { name: actor, tokenIssuers: [] } : actor;
    return this.db.transaction(async (tx) => {
      await tx.insert(settings).values({ id: 1 }).onConflictDoNothing();
      const [row] = await tx.select().from(settings).where(sql`${settings.id} = 1`).for('update');
      const current = settingsOfRow(row!);
      const beneficiaries = issuerChainFor(by);
      const [{ pending } = { pending: 0 }] = change.selfApproveAllowed && !current.selfApproveAllowed
        ? await tx.select({ pending: sql<number>`count(*)::int` }).from(deletionRequests)
          .where(and(eq(deletionRequests.state, 'pending'), inArray(deletionRequests.requestedBy, beneficiaries)))
        : [];
      const decision = applySettingsChange(current, change, { pendingRequestsOfActor: pending });
      if (decision.ok) {
        await tx.update(settings).set({ ...decision.settings, updatedAt: new Date(), updatedBy: by.name }).where(sql`${settings.id} = 1`);
        const changes = diffForAudit({ ...current }, { ...decision.settings });
        if (Object.keys(changes).length > 0) await record(tx, { actor: by.name, action: 'settings.update', target: 'settings', changes });
      }
      return decision;
    });
  }
}
