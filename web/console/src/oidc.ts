/**
 * Sign-in with the company's identity provider: OpenID Connect authorization code with PKCE
 * (S256), state and nonce, run by oidc-client-ts in the browser (a public client: no secret).
 * The console server's /console/config names the IdP (issuer, endpoints, client id; no
 * discovery request). The access token goes to session.ts like the development sign-in's; the
 * services verify it against the IdP's keys.
 *
 * Renewal: oidc-client-ts keeps the IdP's answer (ID token, refresh token) in sessionStorage
 * and, `renew_before_s` seconds before the access token expires, redeems the refresh token
 * at the token endpoint (the `refresh_token` grant: a fetch the CSP's connect-src allows; no
 * hidden iframe, no inline script, so `script-src 'self'` holds); the new access token goes
 * to session.ts and the screens go on without the user noticing.
 * Sign-out ends the IdP's session too (RP-initiated logout: to the end-session endpoint with
 * `id_token_hint` and `post_logout_redirect_uri`, back to /sign-in).
 */
import { type User, UserManager, WebStorageStateStore } from "oidc-client-ts";
import { watch } from "vue";

import { claims, signIn, signOut } from "./session";

export interface OidcConfig {
  issuer: string;
  client_id: string;
  authorization_endpoint: string;
  token_endpoint: string;
  /** RP-initiated logout; null: signing out forgets the token here only. */
  end_session_endpoint?: string | null;
  scope: string;
  /** Renew the access token this many seconds before it expires. */
  renew_before_s?: number;
}

export interface ConsoleConfig {
  dev_sign_in: boolean;
  roles: string[];
  oidc: OidcConfig | null;
}

let config: Promise<ConsoleConfig> | null = null;

/** /console/config, fetched once per page load. */
export function consoleConfig(): Promise<ConsoleConfig> {
  config ??= fetch("/console/config").then(async (r) => {
    if (!r.ok) throw new Error(`/console/config: ${r.status}`);
    return (await r.json()) as ConsoleConfig;
  });
  return config;
}

let users: UserManager | null = null;

/** The one UserManager of this page (its renewal timer lives as long as the page). */
function manager(oidc: OidcConfig): UserManager {
  if (users) return users;
  const origin = window.location.origin;
  const store = new WebStorageStateStore({ store: window.sessionStorage });
  users = new UserManager({
    authority: oidc.issuer,
    client_id: oidc.client_id,
    redirect_uri: `${origin}/sign-in/callback`,
    post_logout_redirect_uri: `${origin}/sign-in`,
    response_type: "code",
    scope: oidc.scope,
    metadata: {
      issuer: oidc.issuer,
      authorization_endpoint: oidc.authorization_endpoint,
      token_endpoint: oidc.token_endpoint,
      ...(oidc.end_session_endpoint ? { end_session_endpoint: oidc.end_session_endpoint } : {}),
    },
    stateStore: store,
    userStore: store,
    loadUserInfo: false,
    // Renewal with the refresh token (signinSilent uses it when the IdP gave one).
    automaticSilentRenew: true,
    accessTokenExpiringNotificationTimeInSeconds: oidc.renew_before_s ?? 60,
    monitorSession: false,
    revokeTokensOnSignout: false,
  });
  // A renewed token: the screens' next calls carry it.
  users.events.addUserLoaded((user: User) => {
    if (claims.value) signIn(user.access_token);
  });
  // Renewal refused (refresh token revoked or expired): the next 401 sends the user to sign in.
  users.events.addSilentRenewError(() => undefined);
  // Signed out here (the button, or a 401): forget the IdP's tokens too, stop renewing.
  watch(claims, (now) => {
    if (!now) void users?.removeUser();
  });
  return users;
}

/** On page load: when this tab signed in with the IdP, renewal resumes (the stored user's
 * expiry arms the timer); back from the IdP's sign-out, the sign-out's state is settled.
 * Nothing for the development sign-in. */
export async function resumeSession(): Promise<void> {
  const params = new URLSearchParams(window.location.search);
  if (!claims.value && !(window.location.pathname === "/sign-in" && params.has("state"))) return;
  const { oidc } = await consoleConfig();
  if (!oidc) return;
  if (!claims.value) {
    // Back from the IdP's end-session endpoint: its state checked and forgotten.
    await manager(oidc)
      .signoutRedirectCallback()
      .catch(() => undefined);
    return;
  }
  const user = await manager(oidc).getUser();
  if (user && user.access_token !== sessionStorage.getItem("propfee.console.token")) {
    await manager(oidc).removeUser(); // another sign-in's leftovers
  }
}

/** Sign out; with the IdP's session too when this tab signed in with it and the IdP has an
 * end-session endpoint (the browser leaves for it and comes back to /sign-in). Returns false
 * when there was nothing to end at the IdP (the caller shows the sign-in page itself). */
export async function signOutEverywhere(): Promise<boolean> {
  let config: ConsoleConfig | null = null;
  try {
    config = await consoleConfig();
  } catch {
    config = null;
  }
  const oidc = config?.oidc;
  const user = oidc ? await manager(oidc).getUser() : null;
  signOut();
  if (!oidc?.end_session_endpoint || !user?.id_token) return false;
  await manager(oidc).signoutRedirect({ id_token_hint: user.id_token });
  return true;
}

function randomNonce(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

/** Off to the IdP; it comes back to /sign-in/callback, then to `next`. */
export async function startSignIn(next: string): Promise<void> {
  const { oidc } = await consoleConfig();
  if (!oidc) throw new Error("no identity provider is configured");
  // oidc-client-ts makes the PKCE verifier and the state; the nonce it checks in the ID token.
  await manager(oidc).signinRedirect({ state: { next }, nonce: randomNonce() });
}

/** The IdP's answer on /sign-in/callback: code exchanged (with the verifier), state and nonce
 * checked; the access token kept. Returns where the user was going. */
export async function completeSignIn(): Promise<string> {
  const { oidc } = await consoleConfig();
  if (!oidc) throw new Error("no identity provider is configured");
  // Kept in the manager's store (sessionStorage): the refresh token renews, the ID token
  // signs out at the IdP. session.ts holds the access token the screens send.
  const user = await manager(oidc).signinRedirectCallback();
  signIn(user.access_token);
  const next = (user.state as { next?: unknown } | undefined)?.next;
  return typeof next === "string" && next.startsWith("/") && !next.startsWith("//") ? next : "/";
}
