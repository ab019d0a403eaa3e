import { describe, expect, it } from 'vitest';
import { SimulatorControl } from '../../simulators/common/control';
import { FakeProxmox } from '../../simulators/proxbox-api';

describe('fault rules with a probability (the chaos suite\'s 20% of proxbox-api calls)', () => {
  it('affects about that share of matching requests, and a spared request goes on to the next rule', () => {
    const control = new SimulatorControl();
    control.addFault({ path: '^/intent/', mode: 'fail', status: 503, probability: 0.2 });
    control.addFault({ path: '^/intent/', mode: 'drop' });
    const modes = Array.from({ length: 5_000 }, () => control.takeFault('POST', '/intent/apply')?.mode);
    const failed = modes.filter((m) => m === 'fail').length;
    expect(failed).toBeGreaterThan(800);
    expect(failed).toBeLessThan(1_200);
    expect(modes.filter((m) => m === 'drop')).toHaveLength(5_000 - failed);
    expect(control.takeFault('GET', '/health')).toBeUndefined();
  });

  it('refuses a probability outside 0..1', () => {
    expect(() => new SimulatorControl().addFault({ path: '.', mode: 'fail', probability: 1.5 })).toThrow();
  });
});

describe('maxConcurrentTasksPerNode: Proxmox tasks that ran at once, per node', () => {
  it('counts overlapping tasks per node, and a task that ends as another starts as no overlap', async () => {
    const cluster = new FakeProxmox({ taskDurationMs: 60 });
    cluster.addEndpoint({ id: 1, name: 'lab', cluster: 'lab', allow_writes: true });
    for (const node of ['pve01', 'pve02']) {
      cluster.addNode({ endpointId: 1, name: node });
      cluster.addStorage({ endpointId: 1, node, storage: 'local-lvm', content: ['images'] });
    }
    const api = cluster.connect(1);
    api.create('pve01', 'qemu', { vmid: 100, name: 'a' });
    api.create('pve01', 'qemu', { vmid: 101, name: 'b' });
    api.create('pve02', 'qemu', { vmid: 102, name: 'c' });
    await new Promise((r) => setTimeout(r, 80));
    api.create('pve02', 'qemu', { vmid: 103, name: 'd' });
    expect(cluster.maxConcurrentTasksPerNode()).toEqual({ '1/pve01': 2, '1/pve02': 1 });
  });
});
