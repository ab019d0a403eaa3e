/**
 * Time inside the simulator is integer epoch microseconds, like Python's datetime, so that REST can show
 * microseconds while change data and webhooks show what NetBox's encoders show.
 */

export class MicrosClock {
  private last = 0;

  constructor(private readonly nowMs: () => number = Date.now) {}

  /** Strictly increasing; the sub-millisecond digits are random, as real timestamps look. */
  now(): number {
    let us = Math.floor(this.nowMs()) * 1000 + Math.floor(Math.random() * 1000);
    if (us <= this.last) us = this.last + 1;
    this.last = us;
    return us;
  }

  /** Moves the clock so that the next value is at least `us`. */
  advanceTo(us: number): void {
    if (us - 1 > this.last) this.last = us - 1;
  }
}

function parts(us: number): { base: string; micros: number } {
  const ms = Math.floor(us / 1000);
  const micros = ((us % 1_000_000) + 1_000_000) % 1_000_000;
  return { base: new Date(ms).toISOString().slice(0, 19), micros };
}

/** Python `datetime.isoformat()`: microseconds unless they are zero. */
function isoformat(us: number, zone: string): string {
  const { base, micros } = parts(us);
  return micros === 0 ? `${base}${zone}` : `${base}.${String(micros).padStart(6, '0')}${zone}`;
}

/** DRF REST datetimes: `2026-07-24T14:03:11.902315Z`. */
export function restTime(us: number): string {
  return isoformat(us, 'Z');
}

/** Django's JSON encoder (change data, webhook data): milliseconds, no fraction when microseconds are zero. */
export function changeDataTime(us: number): string {
  const { base, micros } = parts(us);
  return micros === 0 ? `${base}Z` : `${base}.${String(micros).padStart(6, '0').slice(0, 3)}Z`;
}

/** The webhook `timestamp`: `datetime.isoformat()` of an aware UTC datetime. */
export function pythonIsoformatUtc(us: number): string {
  return isoformat(us, '+00:00');
}
