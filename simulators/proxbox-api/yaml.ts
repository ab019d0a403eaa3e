/**
 * Block-style YAML, keys in their original order, close to PyYAML's
 * `safe_dump(default_flow_style=False, sort_keys=False)`. Used for inline cloud-init user_data.
 */
const RESERVED = /^(?:~|null|Null|NULL|true|True|TRUE|false|False|FALSE|yes|Yes|YES|no|No|NO|on|On|ON|off|Off|OFF|y|Y|n|N)$/;
const NUMBER_LIKE = /^[-+]?(?:\d[\d_]*(?:\.\d*)?(?:[eE][-+]?\d+)?|\.\d+|\.inf|\.nan|0x[0-9a-fA-F]+|0o[0-7]+)$/i;
const PLAIN = /^[^\s\-?:,[\]{}#&*!|>'"%@`]([^:#]|:(?!\s)|#(?<!\s#))*$/;

function scalar(v: unknown): string {
  if (v === null || v === undefined) return 'null';
  if (typeof v === 'boolean') return v ? 'true' : 'false';
  if (typeof v === 'number') return Number.isFinite(v) ? String(v) : v > 0 ? '.inf' : v < 0 ? '-.inf' : '.nan';
  const s = String(v);
  if (s.includes('\n')) return JSON.stringify(s);
  if (s === '' || RESERVED.test(s) || NUMBER_LIKE.test(s) || !PLAIN.test(s) || s !== s.trim()) return `'${s.replace(/'/g, "''")}'`;
  return s;
}

const isMap = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

function lines(v: unknown, indent: string): string[] {
  if (Array.isArray(v)) {
    if (!v.length) return [`${indent}[]`];
    return v.flatMap((item) => {
      if ((isMap(item) && Object.keys(item).length) || (Array.isArray(item) && item.length)) {
        const [first = '', ...rest] = lines(item, `${indent}  `);
        return [`${indent}- ${first.trimStart()}`, ...rest];
      }
      return [`${indent}- ${inline(item)}`];
    });
  }
  if (isMap(v)) {
    if (!Object.keys(v).length) return [`${indent}{}`];
    return Object.entries(v).flatMap(([k, item]) => {
      if (isMap(item) && Object.keys(item).length) return [`${indent}${scalar(k)}:`, ...lines(item, `${indent}  `)];
      if (Array.isArray(item) && item.length) return [`${indent}${scalar(k)}:`, ...lines(item, indent)];
      return [`${indent}${scalar(k)}: ${inline(item)}`];
    });
  }
  return [`${indent}${scalar(v)}`];
}

function inline(v: unknown): string {
  if (Array.isArray(v)) return '[]';
  if (isMap(v)) return '{}';
  return scalar(v);
}

export function toBlockYaml(value: unknown): string {
  return `${lines(value, '').join('\n')}\n`;
}
