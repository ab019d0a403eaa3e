import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { checkRepository, defaultDocFor, fixText, loadDocs, problemsIn, referencesIn, sectionsOf } from '../../scripts/doc-refs';

const root = fileURLToPath(new URL('../..', import.meta.url));

describe('section references resolve inside docs/', () => {
  it('every § reference and api.md heading in the repository names a section that exists', () => {
    const problems = checkRepository(root).map((p) => `${p.file}:${p.line}: ${p.message}`);
    expect(problems).toEqual([]);
  });
});

describe('doc-refs: reading references', () => {
  const docs = loadDocs(root);

  it('reads numbered and lettered headings', () => {
    const sections = sectionsOf('## 8. Reading\n### 8.5 Recipes\n### 10 (a) `POST /x`\n## Conventions\n');
    expect([...sections.numbers].sort()).toEqual(['10 a', '8', '8.5']);
    expect(sections.titles).toContain('Conventions');
  });

  it('gives a group the document named before it, and a bare group the file default', () => {
    const text = '// netbox.md §7.2 and §7.3; see §8.5 and contract §10 (a); issue 11 §3\n';
    const refs = referencesIn('activities/x.ts', text).sections.map((r) => `${r.doc} ${r.section} ${r.how}`);
    expect(refs).toEqual(['netbox 7.2 named', 'netbox 7.3 named', 'proxbox-api 8.5 default', 'proxbox-api 10 a default']);
  });

  it('decides a file default from the path, then from the contract it imports', () => {
    expect(defaultDocFor('simulators/netbox/model.ts', '')).toBe('netbox');
    expect(defaultDocFor('contrib/netbox/proxbox_intent_shim/validators.py', '')).toBe('netbox');
    expect(defaultDocFor('test/simulators/proxbox-api-reads.test.ts', '')).toBe('proxbox-api');
    expect(defaultDocFor('test/unit/x.test.ts', "import { Branch } from '../../contracts/netbox';")).toBe('netbox');
    expect(defaultDocFor('domain/x.ts', '')).toBe('proxbox-api');
    expect(defaultDocFor('docs/contracts/netbox.md', '')).toBe('netbox');
  });

  it('reports a section that no heading carries, and an api.md heading that does not exist', () => {
    const text = '/** proxbox-api.md §8.9 and netbox.md §7.2; api.md "Nothing like this"; api.md "Plan" */\n';
    expect(problemsIn('domain/x.ts', text, docs).map((p) => p.message)).toEqual([
      '§8.9: docs/contracts/proxbox-api.md has no section 8.9',
      'api.md "Nothing like this": docs/api.md has no such heading',
    ]);
  });

  it('reports a pointer to the old shared documents', () => {
    const problems = problemsIn('clients/x.ts', '// see ../shared/contracts/netbox.md\n', docs);
    expect(problems.map((p) => p.message)).toEqual(['points at a document outside the repository (../shared/); use docs/']);
  });
});

describe('doc-refs --fix', () => {
  it('names the document of bare references, canonically, and leaves issue references alone', () => {
    const text = '/** (§10 a, §6) then contract §8.5; netbox.md §3; issue 11 §3 */\n';
    expect(fixText('activities/x.ts', text)).toBe(
      '/** (proxbox-api.md §10 a, §6) then proxbox-api.md §8.5; netbox.md §3; issue 11 §3 */\n');
  });

  it('writes repository paths in Markdown outside docs/ and moves old paths into docs/', () => {
    expect(fixText('README.md', 'the record (§10 a)\n')).toBe('the record (docs/contracts/proxbox-api.md §10 a)\n');
    expect(fixText('contracts/x.ts', '/* /work/shared/contracts/netbox.md, contracts/proxbox-api.md */\n'))
      .toBe('/* docs/contracts/netbox.md, docs/contracts/proxbox-api.md */\n');
  });

  it('changes nothing the second time', () => {
    const once = fixText('simulators/netbox/x.ts', '// §4, §9.2 and ../shared/contracts/netbox.md §1\n');
    expect(once).toBe('// netbox.md §4, §9.2 and netbox.md §1\n');
    expect(fixText('simulators/netbox/x.ts', once)).toBe(once);
  });

  it('leaves the documents themselves as written', () => {
    expect(fixText('docs/contracts/netbox.md', 'see §4.1 and proxbox-api.md §8\n')).toBe('see §4.1 and proxbox-api.md §8\n');
  });
});
