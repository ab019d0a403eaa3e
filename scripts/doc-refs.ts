/**
 * Section references ("§8.5") in code and Markdown, checked against the documents in docs/.
 *
 *   npx tsx scripts/doc-refs.ts [--check]   lists every reference that does not resolve; exit 1 when there is one
 *   npx tsx scripts/doc-refs.ts --fix       names the document of every reference (see below) and points paths
 *                                           into docs/, then checks
 *   npx tsx scripts/doc-refs.ts --list      prints every reference with the document it resolves to
 *
 * A reference is a `§` followed by a section number, optionally with a letter subsection (`§10 a`, `§10 (a)`), in a
 * group joined by commas, "and", "or", slashes or dashes (`§5.1–§5.3`, `§7.2 and §7.3`). The group's document is
 * the one named right before it: `proxbox-api.md`, `netbox.md` or `api.md`, with or without a directory
 * (`docs/contracts/`, `contracts/`, the old `../shared/contracts/`). A group named by "contract", or by nothing, is
 * bare: it refers to the file's own document, decided per file by `defaultDocFor` (docs/ files: themselves; then
 * the path; then which contract module the file imports; else proxbox-api). `--fix` writes that decision into
 * the file, so a reader never has to guess: `proxbox-api.md §8.5` in code, `docs/contracts/proxbox-api.md §8.5` in
 * Markdown outside docs/. References after "issue N" are to issues and are left alone. api.md has no numbers: it
 * is cited by heading, `api.md "Plan: the merge validator"` (or the part before the colon), which is checked too.
 *
 * Running `--fix` again after other edits is safe: it only touches references that are not yet in canonical form.
 */
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, relative, sep } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

export type DocId = 'proxbox-api' | 'netbox' | 'api';

export const DOC_PATHS: Record<DocId, string> = {
  'proxbox-api': 'docs/contracts/proxbox-api.md',
  netbox: 'docs/contracts/netbox.md',
  api: 'docs/api.md',
};

const SCANNED_EXTENSIONS = ['.ts', '.py', '.md'];
const SKIPPED_DIRS = new Set(['node_modules', '.tools', '.data', '.git', 'coverage', 'test/histories']);
/** This script and its test quote references as examples. */
const SKIPPED_FILES = new Set(['scripts/doc-refs.ts', 'test/unit/doc-refs.test.ts']);

/** The sections of a document: `8.5` for "### 8.5 Recipes", `10 a` for "### 10 (a) …"; titles for api.md. */
export interface DocSections {
  numbers: Set<string>;
  titles: string[];
}

export function sectionsOf(markdown: string): DocSections {
  const numbers = new Set<string>();
  const titles: string[] = [];
  for (const line of markdown.split('\n')) {
    const heading = /^#{1,6}[ \t]+(.+?)[ \t]*$/.exec(line);
    if (!heading) continue;
    const title = heading[1]!;
    titles.push(title);
    const lettered = /^(\d+)[ \t]*\(([a-z])\)/.exec(title);
    if (lettered) numbers.add(`${lettered[1]} ${lettered[2]}`);
    else {
      const numbered = /^(\d+(?:\.\d+)*)\.?(?:[ \t]|$)/.exec(title);
      if (numbered) numbers.add(numbered[1]!);
    }
  }
  return { numbers, titles };
}

/** One `§` token: `section` is normalised (`10 a`). */
interface Token {
  start: number;
  end: number;
  section: string;
}

export interface Reference {
  file: string;
  line: number;
  /** The text as written, e.g. `§10 (a)`. */
  text: string;
  section: string;
  doc: DocId | null;
  /** How the document was decided: `named` in the text, or the file's `default`. */
  how: 'named' | 'default';
}

export interface HeadingReference {
  file: string;
  line: number;
  title: string;
}

const TOKEN = /§[ \t]?(\d+(?:\.\d+)*)(?:[ \t]?\(([a-z])\)|[ \t]([a-c])(?=[\s,;:)\].'"`]|$))?/g;
const JOINER = /^[ \t]*(?:,|;|\/|–|—|-|\band\b|\bor\b|&)?[ \t]*(?:\band\b|\bor\b)?[ \t]*$/;
const NAMED_PREFIX = /((?:(?:\.\.\/|\/work\/)?shared\/|docs\/)?(?:contracts\/)?(proxbox-api|netbox|api)\.md)([ \t]*)$/;
const CONTRACT_PREFIX = /\b([Cc]ontract)([ \t]*)$/;
const ISSUE_PREFIX = /\bissues?[ \t]+#?\d+[ \t]*[,(]?[ \t]*$/;
const API_HEADING = /\bapi\.md[ \t]+"([A-Z][^"\n]*)"/g;
const OLD_PATH = /(?:\.\.\/|\/work\/)shared\/((?:contracts\/(?:proxbox-api|netbox)|api)\.md)/g;
const CONTRACTS_PATH = /(?<![\w/.-])contracts\/(proxbox-api|netbox)\.md/g;

/** One group of tokens and what precedes it. */
interface Group {
  tokens: Token[];
  /** Where the prefix that names the group starts (or the first token when none). */
  prefixStart: number;
  prefix: { kind: 'named'; doc: DocId; text: string } | { kind: 'contract' } | { kind: 'none' } | { kind: 'issue' };
}

function groupsOf(text: string): Group[] {
  const tokens: Token[] = [];
  for (const m of text.matchAll(TOKEN)) {
    const letter = m[2] ?? m[3];
    tokens.push({ start: m.index, end: m.index + m[0].length, section: letter ? `${m[1]} ${letter}` : m[1]! });
  }
  const groups: Group[] = [];
  for (const token of tokens) {
    const last = groups.at(-1);
    const lastToken = last?.tokens.at(-1);
    if (last && lastToken && JOINER.test(text.slice(lastToken.end, token.start))) {
      last.tokens.push(token);
      continue;
    }
    const lineStart = text.lastIndexOf('\n', token.start - 1) + 1;
    const before = text.slice(lineStart, token.start);
    const named = NAMED_PREFIX.exec(before);
    const contract = CONTRACT_PREFIX.exec(before);
    if (ISSUE_PREFIX.test(before)) groups.push({ tokens: [token], prefixStart: token.start, prefix: { kind: 'issue' } });
    else if (named) {
      groups.push({ tokens: [token], prefixStart: lineStart + named.index, prefix: { kind: 'named', doc: named[2] as DocId, text: named[1]! } });
    } else if (contract) groups.push({ tokens: [token], prefixStart: lineStart + contract.index, prefix: { kind: 'contract' } });
    else groups.push({ tokens: [token], prefixStart: token.start, prefix: { kind: 'none' } });
  }
  return groups;
}

/** The document a file's bare references mean. See the header of this file. */
export function defaultDocFor(file: string, text: string): DocId | null {
  const ownDoc = (Object.entries(DOC_PATHS) as [DocId, string][]).find(([, path]) => path === file);
  if (ownDoc) return ownDoc[0] === 'api' ? null : ownDoc[0];
  for (const segment of file.toLowerCase().split('/').reverse()) {
    // Our own name (proxbox-intent, proxbox_intent_shim) says nothing about which contract is meant.
    const s = segment.replace(/proxbox[-_]intent/g, '');
    const netbox = s.includes('netbox');
    const proxbox = s.includes('proxbox');
    if (netbox !== proxbox) return netbox ? 'netbox' : 'proxbox-api';
  }
  const importsNetbox = /from ['"][./]*(?:\.\.\/)*contracts\/netbox['"]/.test(text);
  const importsProxbox = /from ['"][./]*(?:\.\.\/)*contracts\/proxbox-api['"]/.test(text);
  if (importsNetbox !== importsProxbox) return importsNetbox ? 'netbox' : 'proxbox-api';
  return 'proxbox-api';
}

function lineOf(text: string, index: number): number {
  let line = 1;
  for (let i = text.indexOf('\n'); i !== -1 && i < index; i = text.indexOf('\n', i + 1)) line++;
  return line;
}

export function referencesIn(file: string, text: string): { sections: Reference[]; headings: HeadingReference[] } {
  const fallback = defaultDocFor(file, text);
  const sections: Reference[] = [];
  for (const group of groupsOf(text)) {
    if (group.prefix.kind === 'issue') continue;
    const named = group.prefix.kind === 'named';
    const doc = group.prefix.kind === 'named' ? group.prefix.doc : fallback;
    for (const token of group.tokens) {
      sections.push({
        file, line: lineOf(text, token.start), text: text.slice(token.start, token.end), section: token.section, doc,
        how: named ? 'named' : 'default',
      });
    }
  }
  const headings = [...text.matchAll(API_HEADING)].map((m) => ({ file, line: lineOf(text, m.index), title: m[1]! }));
  return { sections, headings };
}

/** How a file names a document: short in code and inside docs/, a repository path in other Markdown. */
export function canonicalName(file: string, doc: DocId): string {
  if (file.endsWith('.md') && !file.startsWith('docs/')) return DOC_PATHS[doc];
  return DOC_PATHS[doc].split('/').pop()!;
}

/** The text with every reference group naming its document canonically and old paths pointing into docs/. */
export function fixText(file: string, text: string): string {
  // The documents are written by hand: a bare reference there means the document itself.
  if (file.startsWith('docs/')) return text;
  const fallback = defaultDocFor(file, text);
  const edits: { start: number; end: number; insert: string }[] = [];
  for (const group of groupsOf(text)) {
    const first = group.tokens[0]!;
    if (group.prefix.kind === 'issue') continue;
    if (group.prefix.kind === 'named') {
      const canonical = canonicalName(file, group.prefix.doc);
      if (group.prefix.text !== canonical) edits.push({ start: group.prefixStart, end: first.start, insert: `${canonical} ` });
      continue;
    }
    if (!fallback) continue;
    edits.push({ start: group.prefixStart, end: first.start, insert: `${canonicalName(file, fallback)} ` });
  }
  let fixed = text;
  for (const edit of edits.sort((a, b) => b.start - a.start)) {
    fixed = fixed.slice(0, edit.start) + edit.insert + fixed.slice(edit.end);
  }
  return fixed.replace(OLD_PATH, 'docs/$1').replace(CONTRACTS_PATH, 'docs/contracts/$1.md');
}

export interface Problem {
  file: string;
  line: number;
  message: string;
}

export function problemsIn(file: string, text: string, docs: Record<DocId, DocSections>): Problem[] {
  const problems: Problem[] = [];
  const { sections, headings } = referencesIn(file, text);
  for (const ref of sections) {
    if (!ref.doc) {
      problems.push({ file, line: ref.line, message: `${ref.text}: no document named and none implied by this file` });
    } else if (!docs[ref.doc].numbers.has(ref.section)) {
      problems.push({ file, line: ref.line, message: `${ref.text}: ${DOC_PATHS[ref.doc]} has no section ${ref.section}` });
    }
  }
  for (const ref of headings) {
    const found = docs.api.titles.some((t) => t === ref.title || t.startsWith(`${ref.title}:`));
    if (!found) problems.push({ file, line: ref.line, message: `api.md "${ref.title}": ${DOC_PATHS.api} has no such heading` });
  }
  text.split('\n').forEach((line, i) => {
    if (/shared\/(?:contracts\/[\w-]+|api)\.md/.test(line)) {
      problems.push({ file, line: i + 1, message: 'points at a document outside the repository (../shared/); use docs/' });
    }
  });
  return problems;
}

export function scannedFiles(root: string): string[] {
  const files: string[] = [];
  const walk = (dir: string): void => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const path = join(dir, entry.name);
      const rel = relative(root, path).split(sep).join('/');
      if (entry.isDirectory()) {
        if (!SKIPPED_DIRS.has(entry.name) && !SKIPPED_DIRS.has(rel)) walk(path);
      } else if (SCANNED_EXTENSIONS.some((ext) => entry.name.endsWith(ext)) && !SKIPPED_FILES.has(rel)) {
        files.push(rel);
      }
    }
  };
  walk(root);
  return files.sort();
}

export function loadDocs(root: string): Record<DocId, DocSections> {
  const read = (doc: DocId) => sectionsOf(readFileSync(join(root, DOC_PATHS[doc]), 'utf8'));
  return { 'proxbox-api': read('proxbox-api'), netbox: read('netbox'), api: read('api') };
}

export function checkRepository(root: string): Problem[] {
  const docs = loadDocs(root);
  return scannedFiles(root).flatMap((file) => problemsIn(file, readFileSync(join(root, file), 'utf8'), docs));
}

export function fixRepository(root: string): { file: string; doc: DocId | null }[] {
  const changed: { file: string; doc: DocId | null }[] = [];
  for (const file of scannedFiles(root)) {
    const text = readFileSync(join(root, file), 'utf8');
    const fixed = fixText(file, text);
    if (fixed !== text) {
      writeFileSync(join(root, file), fixed);
      changed.push({ file, doc: defaultDocFor(file, text) });
    }
  }
  return changed;
}

function main(argv: string[]): number {
  const root = fileURLToPath(new URL('..', import.meta.url));
  const mode = argv.includes('--fix') ? 'fix' : argv.includes('--list') ? 'list' : 'check';
  if (mode === 'list') {
    for (const file of scannedFiles(root)) {
      for (const ref of referencesIn(file, readFileSync(join(root, file), 'utf8')).sections) {
        console.log(`${file}:${ref.line}\t${ref.text}\t${ref.doc ?? '?'} §${ref.section}\t(${ref.how})`);
      }
    }
    return 0;
  }
  if (mode === 'fix') {
    for (const { file, doc } of fixRepository(root)) console.log(`fixed ${file} (bare references mean ${doc ?? 'nothing'})`);
  }
  const problems = checkRepository(root);
  for (const p of problems) console.log(`${p.file}:${p.line}: ${p.message}`);
  console.log(problems.length ? `${problems.length} reference(s) that do not resolve inside docs/` : 'every reference resolves inside docs/');
  return problems.length ? 1 : 0;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) process.exitCode = main(process.argv.slice(2));
