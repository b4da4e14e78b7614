// Words and numbers as a person reads them.

export function money(cents, currency = "usd") {
  try {
    return new Intl.NumberFormat("en-US", { style: "currency", currency: currency.toUpperCase() })
      .format(cents / 100);
  } catch {
    return `${(cents / 100).toFixed(2)} ${currency.toUpperCase()}`;
  }
}

export function number(value) {
  return new Intl.NumberFormat("en-US").format(value);
}

export function credits(value) {
  return `${number(value)} ${Math.abs(value) === 1 ? "credit" : "credits"}`;
}

export function date(iso) {
  if (!iso) return "";
  const when = new Date(iso);
  if (Number.isNaN(when.getTime())) return iso;
  return when.toLocaleDateString("en-US", { year: "numeric", month: "short", day: "numeric" });
}

export function dateTime(iso) {
  if (!iso) return "";
  const when = new Date(iso);
  if (Number.isNaN(when.getTime())) return iso;
  return when.toLocaleString("en-US", {
    year: "numeric", month: "short", day: "numeric", hour: "numeric", minute: "2-digit",
  });
}

/** "Expires in 7 days", "Expires today", "Expired": for a video's or export's expires_at. */
export function expiryText(iso, now = Date.now()) {
  if (!iso) return "";
  const left = new Date(iso).getTime() - now;
  if (left <= 0) return "Expired";
  const hours = left / 3_600_000;
  if (hours < 24) {
    const whole = Math.max(1, Math.floor(hours));
    return `Expires in ${whole} ${whole === 1 ? "hour" : "hours"}`;
  }
  const days = Math.ceil(hours / 24);
  return `${days} ${days === 1 ? "day" : "days"} left`;
}

export function daysLeft(iso, now = Date.now()) {
  if (!iso) return null;
  return Math.max(0, Math.ceil((new Date(iso).getTime() - now) / 86_400_000));
}

export function bytes(size) {
  if (!Number.isFinite(size)) return "";
  if (size < 1024) return `${size} B`;
  if (size < 1024 * 1024) return `${(size / 1024).toFixed(0)} KB`;
  return `${(size / (1024 * 1024)).toFixed(1)} MB`;
}

/** "720x1280" -> {label: "Portrait", detail: "720 × 1280", portrait: true, shape: "portrait"} */
export function sizeInfo(size) {
  const [w, h] = String(size).split("x").map(Number);
  const portrait = h > w;
  const shape = w === h ? "square" : portrait ? "portrait" : "landscape";
  const big = Math.max(w, h) > 1280;
  return {
    label: `${shape[0].toUpperCase()}${shape.slice(1)}${big ? " HD" : ""}`,
    detail: `${w} × ${h}`,
    portrait,
    shape,
    width: w,
    height: h,
  };
}

// Display names of the models, as GET /plans gives them (store.getCatalogue remembers them).
const MODEL_NAMES = new Map();

export function rememberModels(models) {
  for (const model of models || []) MODEL_NAMES.set(model.id, model.name || model.id);
}

export function modelName(id) {
  return MODEL_NAMES.get(id) || id;
}

const ACTIONS = {
  signup: "Account created",
  email_verified: "Email confirmed",
  email_changed: "Email changed",
  password_changed: "Password changed",
  password_reset: "Password reset",
  profile_updated: "Profile updated",
  consent_changed: "Consent changed",
  account_closed: "Account closed",
  policy_accepted: "Privacy policy accepted",
};

export function actionText(action) {
  return ACTIONS[action] || String(action).replaceAll("_", " ");
}

const KINDS = {
  signup_grant: "Welcome credits",
  debit: "Video",
  refund: "Refund",
  purchase: "Credit pack",
  subscription_grant: "Plan credits",
  clawback: "Refund or dispute (credits taken back)",
  adjustment: "Adjustment by support",
};

export function ledgerKind(kind) {
  return KINDS[kind] || String(kind).replaceAll("_", " ");
}
