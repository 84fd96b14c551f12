// The operator page's calls: the same as the JSON API for scripts, under /admin/api, authenticated by
// the session cookie (HttpOnly: this code never sees it) and, for every change, the session's
// anti-forgery token in a header.

export class SignedOut extends Error {}

export class OperatorApi {
  #csrf = null;

  /** The current sign-in ({name, csrf, until}) or null. */
  async session() {
    const response = await fetch('session', { cache: 'no-store', credentials: 'same-origin' });
    if (response.status === 204) return null;
    const session = await this.#read(response);
    this.#csrf = session.csrf;
    return session;
  }

  async signIn(token) {
    const response = await fetch('session', {
      method: 'POST',
      cache: 'no-store',
      credentials: 'same-origin',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ token }),
    });
    const session = await this.#read(response);
    this.#csrf = session.csrf;
    return session;
  }

  async signOut() {
    try {
      await this.#send('POST', 'session/end');
    } finally {
      this.#csrf = null;
    }
  }

  counts() { return this.#send('GET', 'api/counts'); }
  reports() { return this.#send('GET', 'api/reports'); }
  bans() { return this.#send('GET', 'api/bans'); }
  refusals() { return this.#send('GET', 'api/refusals'); }
  audit() { return this.#send('GET', 'api/audit'); }

  closeReport(id, reason) { return this.#send('POST', `api/reports/${encodeURIComponent(id)}/close`, { reason }); }
  ban(target, value, minutes, reason) { return this.#send('POST', 'api/bans', { target, value, minutes, reason }); }
  lift(ref, reason) { return this.#send('POST', `api/bans/${encodeURIComponent(ref)}/lift`, { reason }); }

  async #send(method, path, body) {
    const headers = {};
    if (body !== undefined) headers['Content-Type'] = 'application/json';
    if (method !== 'GET' && this.#csrf) headers['X-CSRF-Token'] = this.#csrf;
    const response = await fetch(path, {
      method,
      headers,
      cache: 'no-store',
      credentials: 'same-origin',
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    return this.#read(response);
  }

  async #read(response) {
    if (response.status === 401) throw new SignedOut('Your sign-in has ended: sign in again.');
    if (response.status === 204) return null;
    let body = null;
    try {
      body = await response.json();
    } catch {
      body = null;
    }
    if (!response.ok) throw new Error(body?.error ?? `The server answered ${response.status}.`);
    return body;
  }
}
