import type { TestProject } from 'vitest/node';
import { startTemporalDevServer } from '../../infra/temporal-dev-server';
import { SEARCH_ATTRIBUTES } from '../../runtime/search-attributes';

declare module 'vitest' {
  export interface ProvidedContext {
    temporalAddress: string;
    temporalNamespace: string;
  }
}

/** One real Temporal dev server (in memory, headless) for the whole e2e run; each test file gets its own task queue. */
export default async function setup(project: TestProject) {
  const server = await startTemporalDevServer({ port: 0, headless: true, searchAttributes: SEARCH_ATTRIBUTES, log: () => {} });
  project.provide('temporalAddress', server.address);
  project.provide('temporalNamespace', server.namespace);
  return async () => {
    await server.stop();
  };
}
