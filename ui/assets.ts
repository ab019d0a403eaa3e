import { readFileSync } from 'node:fs';
import { createHash } from 'node:crypto';

/** The pages' static files, read once at start (copied beside the compiled code by scripts/build.ts). */
const STATIC = { 'ui.css': 'text/css; charset=utf-8', 'live-log.js': 'text/javascript; charset=utf-8' } as const;
export type AssetName = keyof typeof STATIC;

export interface Asset { body: string; type: string; etag: string }

export function loadAssets(): Record<AssetName, Asset> {
  const out = {} as Record<AssetName, Asset>;
  for (const [name, type] of Object.entries(STATIC) as [AssetName, string][]) {
    const body = readFileSync(new URL(`./static/${name}`, import.meta.url), 'utf8');
    out[name] = { body, type, etag: `"${createHash('sha256').update(body).digest('base64url').slice(0, 16)}"` };
  }
  return out;
}

export const assetPath = (name: AssetName) => `/ui/static/${name}`;
