// The signed-in token: kept in sessionStorage only (this tab, until it closes or signs out),
// never in the URL, never in localStorage or cookies, never logged.

const KEY = 'moments.token';

/** @returns {{id: string, secret: string} | null} */
export function load() {
  try {
    const saved = JSON.parse(sessionStorage.getItem(KEY) || 'null');
    return saved && typeof saved.id === 'string' && typeof saved.secret === 'string' ? saved : null;
  } catch {
    return null; // storage disabled or a damaged entry: sign in again
  }
}

export function save(credentials) {
  sessionStorage.setItem(KEY, JSON.stringify({ id: credentials.id, secret: credentials.secret }));
}

export function clear() {
  sessionStorage.removeItem(KEY);
}
