// The signed-in session: two tokens in sessionStorage (this tab only, gone when it closes;
// never cookies). Pages subscribe to hear when someone signs in or out.

const ACCESS = "aisora.access_token";
const REFRESH = "aisora.refresh_token";
const listeners = new Set();

function read(key) {
  try {
    return sessionStorage.getItem(key);
  } catch {
    return null; // storage disabled: the person can still browse, not sign in
  }
}

export const session = {
  get accessToken() {
    return read(ACCESS);
  },
  get refreshToken() {
    return read(REFRESH);
  },
  get signedIn() {
    return Boolean(read(ACCESS) || read(REFRESH));
  },
  /** Stores a token pair from signup, login, refresh or a password change. */
  store(pair) {
    const wasSignedIn = this.signedIn;
    sessionStorage.setItem(ACCESS, pair.access_token);
    sessionStorage.setItem(REFRESH, pair.refresh_token);
    if (!wasSignedIn) notify(true);
  },
  clear() {
    const wasSignedIn = this.signedIn;
    try {
      sessionStorage.removeItem(ACCESS);
      sessionStorage.removeItem(REFRESH);
    } catch {
      // nothing stored to remove
    }
    if (wasSignedIn) notify(false);
  },
  onChange(listener) {
    listeners.add(listener);
    return () => listeners.delete(listener);
  },
};

function notify(signedIn) {
  for (const listener of listeners) listener(signedIn);
}
