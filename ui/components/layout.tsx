import type { Child } from 'hono/jsx';
import { hasPermission, type Permission } from '../../domain/permissions';
import { assetPath } from '../assets';
import type { PageUser } from '../context';
import { CsrfField } from './form';

/** One navigation entry: shown to users holding any of `anyOf` (the same permissions the API asks for). */
export interface NavItem { href: string; label: string; anyOf: Permission[] }

/** The navigation, in order. A phase-2 page replaces its placeholder in ui/app.ts; its entry stays here. */
export const NAV: NavItem[] = [
  { href: '/ui/dashboard', label: 'Dashboard', anyOf: ['view'] },
  { href: '/ui/apply-jobs', label: 'Apply jobs', anyOf: ['view'] },
  { href: '/ui/deletion-requests', label: 'Deletion requests', anyOf: ['view'] },
  { href: '/ui/plans', label: 'Plans', anyOf: ['view'] },
  { href: '/ui/settings', label: 'Settings', anyOf: ['view'] },
  { href: '/ui/endpoints', label: 'Endpoints', anyOf: ['view'] },
  { href: '/ui/notifications', label: 'Notifications', anyOf: ['manage_settings'] },
  { href: '/ui/users', label: 'Users', anyOf: ['manage_users'] },
  { href: '/ui/audit-log', label: 'Audit log', anyOf: ['manage_users', 'manage_settings'] },
  { href: '/ui/status', label: 'Status', anyOf: ['view'] },
];

export const mayOpen = (user: PageUser, item: Pick<NavItem, 'anyOf'>) => item.anyOf.some((p) => hasPermission(user.permissions, p));

/** The page chrome: skip link, header (user, sign-out), navigation, one <main> with the page's <h1>. */
export function Layout(props: { title: string; user?: PageUser | undefined; csrfToken?: string | undefined; current?: string; children?: Child; scripts?: string[] }) {
  const { user } = props;
  return (
    <html lang="en">
      <head>
        <meta charset="utf-8" />
        <meta name="viewport" content="width=device-width, initial-scale=1" />
        <title>{props.title} · proxbox-intent</title>
        <link rel="stylesheet" href={assetPath('ui.css')} />
        {(props.scripts ?? []).map((src) => <script src={src} defer></script>)}
      </head>
      <body>
        <a class="skip" href="#content">Skip to content</a>
        <header class="top">
          <a class="brand" href="/ui">proxbox-intent</a>
          {user && (
            <div class="who">
              <span>Signed in as <strong>{user.username}</strong></span>
              <form method="post" action="/ui/sign-out">
                <CsrfField token={props.csrfToken ?? ''} />
                <button type="submit">Sign out</button>
              </form>
            </div>
          )}
        </header>
        {user && (
          <nav class="main" aria-label="Main">
            <ul>
              {NAV.filter((item) => mayOpen(user, item)).map((item) => (
                <li><a href={item.href} aria-current={props.current === item.href ? 'page' : undefined}>{item.label}</a></li>
              ))}
            </ul>
          </nav>
        )}
        <main id="content">
          <h1>{props.title}</h1>
          {props.children}
        </main>
      </body>
    </html>
  );
}
