import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, expect } from 'vitest';
import { startStack, type Stack, type StackOptions } from './stack';

const REPO = fileURLToPath(new URL('../..', import.meta.url));
const AXE_SOURCE = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');

/** Debian's chromium (scripts/browser.sh installs it when missing; npm test passes its path as CHROMIUM_PATH). */
export function chromiumPath(): string {
  if (process.env.CHROMIUM_PATH) return process.env.CHROMIUM_PATH;
  return execFileSync('bash', [`${REPO}/scripts/browser.sh`], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] }).trim();
}

/** Headless Chromium driven by playwright-core (no browser download: the installed one). */
export function launchBrowser(): Promise<Browser> {
  // --no-sandbox: the tests run as root, where Chromium's sandbox refuses to start.
  return chromium.launch({ executablePath: chromiumPath(), headless: true, args: ['--no-sandbox', '--disable-dev-shm-usage'] });
}

/** A fresh context (its own cookies) with a laptop-sized window. */
export function newContext(browser: Browser): Promise<BrowserContext> {
  return browser.newContext({ viewport: { width: 1366, height: 800 } });
}

/** Signs in through the sign-in page; the page is left on wherever the sign-in led (the dashboard by default). */
export async function signIn(page: Page, api: string, username: string, token: string, next?: string): Promise<void> {
  await page.goto(`${api}/ui/sign-in${next ? `?next=${encodeURIComponent(next)}` : ''}`);
  await page.getByLabel('Username').fill(username);
  await page.getByLabel('API token').fill(token);
  await Promise.all([page.waitForLoadState('load'), page.getByRole('button', { name: 'Sign in' }).click()]);
}

/**
 * Runs axe-core in the page (through the DevTools protocol, so the page's CSP stays as it is) and fails on any
 * serious or critical violation, naming each rule and the elements it found.
 */
export async function expectAccessible(page: Page, label = page.url()): Promise<void> {
  await page.evaluate(`${AXE_SOURCE}\n;undefined`);
  const violations = await page.evaluate(`axe.run(document, { resultTypes: ['violations'] }).then((r) => r.violations.map((v) =>
    ({ id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.map((n) => n.target.join(' ')).slice(0, 5) })))`) as { id: string; impact: string; help: string; nodes: string[] }[];
  const serious = violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
  expect(serious, `accessibility of ${label}:\n${serious.map((v) => `${v.impact} ${v.id}: ${v.help} (${v.nodes.join(', ')})`).join('\n')}`).toEqual([]);
}

/** With UPDATE_SCREENSHOTS=1, saves the page as docs/screenshots/<name>.png (committed, shown in the README). */
export async function screenshot(page: Page, name: string): Promise<void> {
  if (process.env.UPDATE_SCREENSHOTS !== '1') return;
  mkdirSync(`${REPO}/docs/screenshots`, { recursive: true });
  await page.screenshot({ path: `${REPO}/docs/screenshots/${name}.png`, fullPage: true });
}

/** The session cookie header of a signed-in context, for requests made outside the browser (forged POSTs). */
export async function cookieHeader(context: BrowserContext): Promise<string> {
  return (await context.cookies()).map((c) => `${c.name}=${c.value}`).join('; ');
}

/** A page in a fresh context of its own (closed after the test that opened it). */
/** Submits a form with a click on its button; waits for the answer to the POST (its status) and the page it leads to. */
export async function submitForm(page: Page, button: string, path: string): Promise<number> {
  const [answer] = await Promise.all([
    page.waitForResponse((r) => r.request().method() === 'POST' && new URL(r.url()).pathname === path, { timeout: 30_000 }),
    page.getByRole('button', { name: button, exact: true }).click({ timeout: 30_000 }),
  ]);
  await page.waitForLoadState('load');
  return answer.status();
}

export interface OpenPage { context: BrowserContext; page: Page }

export interface BrowserSuite {
  /** The stack of this file (started in beforeAll). */
  readonly stack: Stack;
  readonly browser: Browser;
  pageFor(): Promise<OpenPage>;
  /** Signs in on a fresh page (with the demo user's own token unless given) and expects the dashboard. */
  signedIn(user: keyof Stack['tokens'], token?: string): Promise<OpenPage>;
  signedIn(user: string, token: string): Promise<OpenPage>;
}

/**
 * The lifecycle of a browser test file: starts the stack (with these options) and Chromium together before all tests,
 * closes the contexts each test opened after it (open pages keep their live-log event streams), and closes the browser
 * and stops the stack after all. Call it once inside the file's describe.
 */
export function browserSuite(options?: StackOptions): BrowserSuite {
  let stack: Stack | undefined;
  let browser: Browser | undefined;
  const contexts: BrowserContext[] = [];
  beforeAll(async () => {
    [stack, browser] = await Promise.all([startStack(options), launchBrowser()]);
  });
  afterEach(async () => {
    for (const c of contexts.splice(0)) await c.close().catch(() => {});
  });
  afterAll(async () => {
    await browser?.close();
    await stack?.stop();
  });

  const started = <T>(value: T | undefined, what: string): T => {
    if (value === undefined) throw new Error(`browserSuite: the ${what} is not started yet (use it inside a test)`);
    return value;
  };
  async function pageFor(): Promise<OpenPage> {
    const context = await newContext(started(browser, 'browser'));
    contexts.push(context);
    return { context, page: await context.newPage() };
  }
  async function signedIn(user: string, token?: string): Promise<OpenPage> {
    const s = started(stack, 'stack');
    const opened = await pageFor();
    await signIn(opened.page, s.api, user, token ?? s.tokens[user as keyof Stack['tokens']]);
    expect(new URL(opened.page.url()).pathname).toBe('/ui/dashboard');
    return opened;
  }
  return {
    get stack() { return started(stack, 'stack'); },
    get browser() { return started(browser, 'browser'); },
    pageFor,
    signedIn,
  };
}
