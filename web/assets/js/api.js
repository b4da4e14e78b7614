// One way to talk to the API: JSON in and out, the bearer token attached, one refresh on an
// expired session, and every failure turned into an ApiError whose message a person can act on.

import { session } from "./session.js";

export class ApiError extends Error {
  constructor({ status, code, message, field = null, retryAfter = null }) {
    super(message);
    this.status = status;
    this.code = code;
    this.field = field;
    this.retryAfter = retryAfter;
  }
}

// Labels for the field names the API uses at the start of its messages.
const FIELD_LABELS = {
  email: "Email",
  password: "Password",
  new_password: "New password",
  current_password: "Current password",
  birth_date: "Birth date",
  prompt: "Prompt",
  model: "Model",
  size: "Size",
  seconds: "Length",
  subject: "Subject",
  message: "Message",
  child_email: "The child's email",
  type: "Request type",
  token: "The link",
  reference_url: "The image address",
  reference_upload_id: "The reference image",
  content_type: "The image type",
};

/** "birth_date must be ..." -> "Birth date must be ..."; other messages get a capital letter. */
export function humanize(message, field) {
  let text = String(message || "").trim();
  const bare = field ? field.split(".").pop() : null;
  for (const name of [field, bare]) {
    if (name && text.startsWith(`${name} `)) {
      const label = FIELD_LABELS[name] || name.replaceAll("_", " ").replaceAll(".", " ");
      text = label + text.slice(name.length);
      break;
    }
  }
  text = text.replace(/^preferences\.(\w+)/, (_, key) => `The ${key.replaceAll("_", " ")} preference`);
  if (text && /[a-z]/.test(text[0])) text = text[0].toUpperCase() + text.slice(1);
  if (text && !/[.!?]$/.test(text)) text += ".";
  return text;
}

function waitText(seconds) {
  if (!seconds || Number.isNaN(seconds)) return "in a little while";
  if (seconds < 90) return `in ${seconds} seconds`;
  return `in about ${Math.ceil(seconds / 60)} minutes`;
}

function errorFrom(status, payload, headers) {
  const retryAfter = Number.parseInt(headers.get("Retry-After") || "", 10) || null;
  const detail = payload && typeof payload === "object" ? payload.error : null;
  if (status === 429) {
    return new ApiError({
      status, code: detail?.code || "too_many_attempts", retryAfter,
      message: `Too many attempts. For your safety, please wait and try again ${waitText(retryAfter)}.`,
    });
  }
  if (detail && detail.message) {
    return new ApiError({
      status, code: detail.code || "error", field: detail.field || null, retryAfter,
      message: humanize(detail.message, detail.field),
    });
  }
  if (status >= 500) {
    return new ApiError({
      status, code: "server_error",
      message: "Something went wrong on our side. Please try again in a moment.",
    });
  }
  if (status === 403 || status === 404) {
    return new ApiError({ status, code: "not_available", message: "This is not available." });
  }
  return new ApiError({ status, code: "error", message: "The request did not go through. Please try again." });
}

async function readJson(response) {
  const text = await response.text();
  if (!text) return null;
  try {
    return JSON.parse(text);
  } catch {
    return null;
  }
}

let refreshing = null;

/** Trades the refresh token for a new pair, once, however many requests found the session expired. */
function refreshSession() {
  if (!refreshing) {
    const token = session.refreshToken;
    refreshing = (async () => {
      if (!token) return false;
      try {
        const response = await fetch("/auth/refresh", {
          method: "POST",
          headers: { "Content-Type": "application/json", Accept: "application/json" },
          body: JSON.stringify({ refresh_token: token }),
        });
        if (!response.ok) return false;
        session.store(await response.json());
        return true;
      } catch {
        return false;
      }
    })().finally(() => {
      setTimeout(() => {
        refreshing = null;
      }, 0);
    });
  }
  return refreshing;
}

const expiredListeners = new Set();
/** Called when the session cannot be renewed: the app sends the person to sign in. */
export function onSessionExpired(listener) {
  expiredListeners.add(listener);
}

/**
 * api("GET", "/me") -> the parsed JSON (null for 204); throws ApiError.
 * options.auth=false sends no token (signup, login, public pages).
 */
export async function api(method, path, body, options = {}) {
  const { auth = true, retry = true } = options;
  const headers = { Accept: "application/json" };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const token = auth ? session.accessToken : null;
  if (token) headers.Authorization = `Bearer ${token}`;
  let response;
  try {
    response = await fetch(path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      cache: "no-store",
    });
  } catch {
    throw new ApiError({
      status: 0, code: "network",
      message: "We could not reach AISora2. Check your connection and try again.",
    });
  }
  const payload = response.status === 204 ? null : await readJson(response);
  if (response.ok) return payload;
  const error = errorFrom(response.status, payload, response.headers);
  // 401 for a wrong password is an answer to show; 401 for a token means the session ran out.
  if (response.status === 401 && auth && error.code !== "invalid_credentials") {
    if (retry && session.refreshToken && (await refreshSession())) {
      return api(method, path, body, { ...options, retry: false });
    }
    session.clear();
    for (const listener of expiredListeners) listener();
    throw new ApiError({
      status: 401, code: "session_expired", message: "Your session has ended. Please sign in again.",
    });
  }
  throw error;
}
