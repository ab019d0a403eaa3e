import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sql } from 'drizzle-orm';
import { openDatabase, type Database } from '../../db/client';
import { readGateFacts } from '../../db/gate-facts';
import { SettingsStore } from '../../db/settings';
import { settings } from '../../db/schema';
import { DEFAULT_SETTINGS } from '../../domain/settings';
import { createFreshDatabase } from '../support/database';

/** The gate facts read the settings row in one SQL round trip; they must see exactly what SettingsStore sees. */
describe('one settings row mapping for the settings store and the gate facts', () => {
  let fresh: Awaited<ReturnType<typeof createFreshDatabase>>;
  let database: Database;
  const backends = { openBackend: () => null };
  beforeAll(async () => {
    fresh = await createFreshDatabase('proxbox_settings_map');
    database = await openDatabase({ url: fresh.url, maxConnections: 2 });
  });
  afterAll(async () => {
    await database.close();
    await fresh.drop();
  });

  it('gives the defaults when no row exists', async () => {
    expect((await readGateFacts(database.db, 1, null, backends)).settings).toEqual(DEFAULT_SETTINGS);
    expect(await new SettingsStore(database.db).get()).toEqual(DEFAULT_SETTINGS);
  });

  it('maps every setting of a stored row alike, none left at its default', async () => {
    const stored = {
      netboxToProxmoxEnabled: !DEFAULT_SETTINGS.netboxToProxmoxEnabled, typedConfirmation: 'apply it',
      selfApproveAllowed: !DEFAULT_SETTINGS.selfApproveAllowed, deletionRequestTtlDays: DEFAULT_SETTINGS.deletionRequestTtlDays + 3,
      warnPlaintextPassword: !DEFAULT_SETTINGS.warnPlaintextPassword, tokenLifetimeDays: 42,
      deletionReminderLeadHours: DEFAULT_SETTINGS.deletionReminderLeadHours + 5,
    };
    await database.db.insert(settings).values({ id: 1, ...stored });
    const viaStore = await new SettingsStore(database.db).get();
    expect(viaStore).toEqual(stored);
    for (const key of Object.keys(DEFAULT_SETTINGS)) expect(stored, `every setting is covered: ${key}`).toHaveProperty(key);
    expect((await readGateFacts(database.db, 1, null, backends)).settings).toEqual(viaStore);
    await database.db.execute(sql`delete from settings`);
  });
});
