import { afterAll, beforeAll, beforeEach } from 'vitest';
import type { FakeProxmox, ProxboxSimulatorOptions } from '../../simulators/proxbox-api';
import { startTestProxbox, type TestProxbox } from '../../simulators/proxbox-api/test-client';

/**
 * One proxbox-api simulator for a test file: started once (`bind` receives it), then reset and seeded with the demo
 * cluster, plus `seed`, before each test.
 */
export function useProxboxSimulator(
  bind: (pb: TestProxbox) => void,
  opts: { options?: ProxboxSimulatorOptions; seed?: (cluster: FakeProxmox) => void } = {},
): void {
  let pb: TestProxbox;
  beforeAll(async () => {
    pb = await startTestProxbox(opts.options);
    bind(pb);
  });
  afterAll(() => pb.close());
  beforeEach(() => {
    pb.sim.reset();
    pb.sim.cluster.seedDemoCluster();
    opts.seed?.(pb.sim.cluster);
  });
}
