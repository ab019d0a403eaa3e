import { sql } from 'drizzle-orm';
import type { Db } from './client';
import { settings } from './schema';
import { applySettingsChange, DEFAULT_SETTINGS, type IntentSettings, type SettingsChange, type SettingsDecision } from '../domain/settings';

export class SettingsStore {
  constructor(private readonly db: Db) {}

  async get(): Promise<IntentSettings> {
    const [row] = await this.db.select().from(settings).where(sql`${settings.id} = 1`);
    if (!row) return { ...DEFAULT_SETTINGS };
    return {
      netboxToProxmoxEnabled: row.netboxToProxmoxEnabled,
      typedConfirmation: row.typedConfirmation,
      selfApproveAllowed: row.selfApproveAllowed,
      deletionRequestTtlDays: row.deletionRequestTtlDays,
      warnPlaintextPassword: row.warnPlaintextPassword,
    };
  }

  /** Applies a change under a row lock so two concurrent writers cannot interleave the phrase rules. */
  async update(change: SettingsChange, actor: string): Promise<SettingsDecision> {
    return this.db.transaction(async (tx) => {
      await tx.insert(settings).values({ id: 1 }).onConflictDoNothing();
      const [row] = await tx.select().from(settings).where(sql`${settings.id} = 1`).for('update');
      const decision = applySettingsChange({
        netboxToProxmoxEnabled: row!.netboxToProxmoxEnabled,
        typedConfirmation: row!.typedConfirmation,
        selfApproveAllowed: row!.selfApproveAllowed,
        deletionRequestTtlDays: row!.deletionRequestTtlDays,
        warnPlaintextPassword: row!.warnPlaintextPassword,
      }, change);
      if (decision.ok) {
        await tx.update(settings).set({ ...decision.settings, updatedAt: new Date(), updatedBy: actor }).where(sql`${settings.id} = 1`);
      }
      return decision;
    });
  }
}
