import type { Child } from 'hono/jsx';

export interface Column<T> { header: string; cell: (row: T) => Child; numeric?: boolean }

/** A data table with a caption (visible or for screen readers) and an empty-state line. */
export function Table<T>(props: { caption: string; rows: readonly T[]; columns: Column<T>[]; empty: string }) {
  if (props.rows.length === 0) return <p class="empty">{props.empty}</p>;
  return (
    <table>
      <caption>{props.caption}</caption>
      <thead><tr>{props.columns.map((col) => <th scope="col" class={col.numeric ? 'num' : undefined}>{col.header}</th>)}</tr></thead>
      <tbody>
        {props.rows.map((row) => <tr>{props.columns.map((col) => <td class={col.numeric ? 'num' : undefined}>{col.cell(row)}</td>)}</tr>)}
      </tbody>
    </table>
  );
}

/** Cursor pagination: "First page" and "Next page" links that keep the current filters. */
export function Pagination(props: { basePath: string; query: Record<string, string | undefined>; nextCursor: string | null; isFirst: boolean }) {
  const href = (cursor?: string) => {
    const params = new URLSearchParams();
    for (const [k, v] of Object.entries(props.query)) if (v) params.set(k, v);
    if (cursor) params.set('cursor', cursor);
    const qs = params.toString();
    return qs ? `${props.basePath}?${qs}` : props.basePath;
  };
  if (props.isFirst && !props.nextCursor) return null;
  return (
    <nav class="pages" aria-label="Pages">
      {!props.isFirst && <a href={href()}>First page</a>}
      {props.nextCursor && <a href={href(props.nextCursor)} rel="next">Next page</a>}
    </nav>
  );
}

/** A time as UTC text in a <time> element (machine-readable too). */
export function Time(props: { at: Date | null | undefined }) {
  if (!props.at) return <span class="muted">—</span>;
  return <time datetime={props.at.toISOString()}>{props.at.toISOString().replace('T', ' ').replace(/\.\d+Z$/, ' UTC')}</time>;
}
