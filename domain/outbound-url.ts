/**
 * What every URL this service sends a secret to must be (the proxbox-api backend, a notification destination): a
 * valid http(s) URL, https unless the operator allowed plain http, and nothing in it that could hide the real host.
 */
export interface OutboundUrlRules {
  /** How the sentences name the URL: `the proxbox-api URL`. */
  name: string;
  allowHttp: boolean;
  /** The sentence for a plain-http URL when that is not allowed (it names the setting that allows it). */
  httpRefusal: string;
  /** A query string is refused too (a fragment always is). */
  refuseQuery: boolean;
}

/** The parsed URL when it passes, else the sentence that says why not. */
export function checkOutboundUrl(url: string, rules: OutboundUrlRules): URL | string {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return `${rules.name} is not a valid URL`;
  }
  if (parsed.protocol !== 'https:' && parsed.protocol !== 'http:') return `${rules.name} must use https`;
  if (parsed.protocol === 'http:' && !rules.allowHttp) return rules.httpRefusal;
  if (parsed.username || parsed.password) return `${rules.name} must not contain a user name or password`;
  if (rules.refuseQuery && (parsed.search || parsed.hash)) return `${rules.name} must not contain a query or fragment`;
  if (parsed.hash) return `${rules.name} must not contain a fragment`;
  return parsed;
}
