// The account: profile and email, preferences, consents, password and activity, a copy of
// one's data, and closing the account.

import { api } from "../api.js";
import { analyticsAllowed, decide, openBanner } from "../consent.js";
import { h, icon, replace } from "../dom.js";
import { actionText, bytes, date, dateTime, modelName, sizeInfo } from "../format.js";
import { navigate } from "../router.js";
import { session } from "../session.js";
import { getCatalogue, loadProfile, setProfile } from "../store.js";
import { busy, checkbox, clearErrors, errorState, field, formAlert, pageHead, showError, spinner, toast } from "../ui.js";

const LANGUAGES = {
  en: "English", es: "Español", fr: "Français", de: "Deutsch", it: "Italiano",
  pt: "Português", ja: "日本語", ko: "한국어", zh: "中文",
};
const EXPORT_POLL_MS = 1000;
const EXPORT_POLL_LIMIT = 180; // three minutes; after that the email says when it is ready

function section(id, title, lead, ...content) {
  return h("section", { class: "card account-section", id, "aria-labelledby": `${id}-title` },
    h("h2", { id: `${id}-title`, tabindex: "-1" }, title),
    lead ? h("p", { class: "muted" }, lead) : null,
    content);
}

function exportKey(profile) {
  return `aisora.export.${profile.id}`;
}

export async function render(container) {
  const [profile, catalogue] = await Promise.all([loadProfile(true), getCatalogue()]);
  const timers = new Set();
  let stopped = false;
  const later = (fn, ms) => {
    const t = setTimeout(() => {
      timers.delete(t);
      if (!stopped) fn();
    }, ms);
    timers.add(t);
  };

  // --- profile ------------------------------------------------------------------------------
  const profileSlot = h("div");
  function renderProfile(p) {
    const plan = catalogue.plans.find((x) => x.id === p.plan);
    const verified = p.email_verified
      ? h("span", { class: "badge ok" }, icon("check"), " Confirmed")
      : h("span", { class: "badge warn" }, "Not confirmed");
    const resend = p.email_verified && !p.pending_email ? null : h("button", {
      type: "button", class: "btn ghost small",
      onclick: (e) => busy(e.currentTarget, "Sending…", async () => {
        try {
          await api("POST", "/auth/verify-email/resend", {});
          toast("A new confirmation link is on its way.", "success");
        } catch (error) {
          toast(error.message, "error");
        }
      }),
    }, "Send the confirmation link again");
    replace(profileSlot,
      h("dl", { class: "facts" },
        h("div", null, h("dt", null, "Email"), h("dd", { id: "account-email" }, p.email, " ", verified)),
        p.pending_email ? h("div", null, h("dt", null, "Changing to"),
          h("dd", null, p.pending_email, " ", h("span", { class: "badge warn" }, "Waiting for confirmation"))) : null,
        h("div", null, h("dt", null, "Plan"), h("dd", null, `${plan?.name || p.plan} · videos kept ${p.retention_days} days `,
          h("a", { href: "#/billing" }, "Change"))),
        h("div", null, h("dt", null, "Credits"), h("dd", null, String(p.credits),
          p.signup_credits_pending ? h("span", { class: "muted small" }, p.email_verified
            ? ` · ${p.signup_credits} free credits come when today's allowance allows`
            : ` · ${p.signup_credits} free credits once you confirm your email`) : null)),
        h("div", null, h("dt", null, "Member since"), h("dd", null, date(p.created_at)))),
      resend);
  }
  renderProfile(profile);

  const newEmail = field({ label: "New email address", name: "email", type: "email", autocomplete: "email",
    hint: "We send a link to the new address; it replaces the current one once you click it." });
  const emailPassword = field({ label: "Your current password", name: "password", type: "password",
    autocomplete: "current-password", hint: "Asked to change the email, so that nobody else can." });
  const emailButton = h("button", { type: "submit", class: "btn secondary" }, "Change email");
  const emailForm = h("form", { novalidate: true, class: "stack inline-form", "aria-label": "Change email" },
    formAlert(), newEmail, emailPassword, emailButton);
  emailForm.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearErrors(emailForm);
    if (!newEmail.input.value.trim()) {
      showError(emailForm, { field: "email", message: "Type the new address first." });
      return;
    }
    if (!emailPassword.input.value) {
      showError(emailForm, { field: "password", message: "Type your current password to change the email." });
      return;
    }
    await busy(emailButton, "Saving…", async () => {
      try {
        const p = await api("PATCH", "/me", { email: newEmail.input.value.trim(), password: emailPassword.input.value });
        setProfile(p);
        renderProfile(p);
        newEmail.input.value = "";
        emailPassword.input.value = "";
        toast(p.pending_email ? `Check ${p.pending_email} for a confirmation link.` : "That is already your address.", "success");
      } catch (error) {
        showError(emailForm, error);
      }
    });
  });

  // --- preferences --------------------------------------------------------------------------
  const prefs = profile.preferences || {};
  const allSizes = [...new Set(catalogue.models.flatMap((m) => m.sizes))];
  const allSeconds = [...new Set(catalogue.models.flatMap((m) => m.seconds))].sort((a, b) => a - b);
  const unsetOption = (value) => (value === undefined ? [{ value: "", label: "No preference", selected: true }] : []);
  const language = field({
    label: "Language", name: "preferences.language", type: "select",
    options: [...unsetOption(prefs.language),
      ...Object.entries(LANGUAGES).map(([value, label]) => ({ value, label, selected: prefs.language === value }))],
  });
  const defaultModel = field({
    label: "Default model", name: "preferences.default_model", type: "select",
    options: [...unsetOption(prefs.default_model),
      ...catalogue.models.map((m) => ({ value: m.id, label: modelName(m.id), selected: prefs.default_model === m.id }))],
  });
  const defaultSeconds = field({
    label: "Default length", name: "preferences.default_seconds", type: "select",
    options: [...unsetOption(prefs.default_seconds),
      ...allSeconds.map((s) => ({ value: String(s), label: `${s} seconds`, selected: prefs.default_seconds === s }))],
  });
  const defaultSize = field({
    label: "Default size", name: "preferences.default_size", type: "select",
    options: [...unsetOption(prefs.default_size),
      ...allSizes.map((s) => ({ value: s, label: `${sizeInfo(s).label} ${sizeInfo(s).detail}`, selected: prefs.default_size === s }))],
  });
  const notify = prefs.notifications || {};
  const videoReady = checkbox({ name: "preferences.notifications", label: "Email me when a video is ready",
    checked: notify.video_ready === true });
  const productNews = checkbox({ name: "product_updates", label: "Email me about new features and service changes",
    checked: notify.product_updates === true });
  const prefsButton = h("button", { type: "submit", class: "btn secondary" }, "Save preferences");
  const prefsForm = h("form", { novalidate: true, class: "stack", "aria-label": "Preferences" },
    formAlert(),
    h("div", { class: "grid-2" }, language, defaultModel, defaultSeconds, defaultSize),
    h("fieldset", { class: "plain" }, h("legend", null, "Notifications"), videoReady, productNews),
    prefsButton);
  prefsForm.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearErrors(prefsForm);
    const preferences = {
      notifications: { video_ready: videoReady.input.checked, product_updates: productNews.input.checked },
    };
    if (language.input.value) preferences.language = language.input.value;
    if (defaultModel.input.value) preferences.default_model = defaultModel.input.value;
    if (defaultSeconds.input.value) preferences.default_seconds = Number(defaultSeconds.input.value);
    if (defaultSize.input.value) preferences.default_size = defaultSize.input.value;
    await busy(prefsButton, "Saving…", async () => {
      try {
        setProfile(await api("PATCH", "/me", { preferences }));
        toast("Preferences saved.", "success");
      } catch (error) {
        showError(prefsForm, error);
      }
    });
  });

  // --- consents -----------------------------------------------------------------------------
  const marketing = checkbox({
    name: "marketing", checked: profile.consents?.marketing?.opted_in === true,
    label: "Send me product news and offers by email",
    hint: profile.consents?.marketing?.changed_at ? `Last changed ${dateTime(profile.consents.marketing.changed_at)}.` : null,
  });
  const analytics = checkbox({
    name: "analytics", checked: analyticsAllowed(),
    label: "Allow analytics cookies",
    hint: "Off unless you allow it. This site sends no analytics today; the choice is kept for when it might.",
  });
  const consentStatus = h("p", { class: "sr-status visually-hidden", role: "status" });
  marketing.input.addEventListener("change", async () => {
    const value = marketing.input.checked;
    marketing.input.disabled = true;
    try {
      const p = await api("PATCH", "/me/consents", { marketing: value });
      setProfile(p);
      consentStatus.textContent = value ? "Marketing emails turned on." : "Marketing emails turned off.";
      toast(consentStatus.textContent, "success");
    } catch (error) {
      marketing.input.checked = !value;
      toast(error.message, "error");
    } finally {
      marketing.input.disabled = false;
    }
  });
  analytics.input.addEventListener("change", async () => {
    analytics.input.disabled = true;
    await decide(analytics.input.checked);
    analytics.input.disabled = false;
    consentStatus.textContent = analytics.input.checked ? "Analytics allowed." : "Analytics turned off.";
    toast(consentStatus.textContent, "success");
  });
  const policyConsent = profile.consents?.privacy_policy || {};

  // --- password and activity ----------------------------------------------------------------
  const current = field({ label: "Current password", name: "current_password", type: "password", autocomplete: "current-password" });
  const next = field({ label: "New password", name: "new_password", type: "password", autocomplete: "new-password",
    hint: "At least 8 characters. Your other devices will be signed out." });
  const passwordButton = h("button", { type: "submit", class: "btn secondary" }, "Change password");
  const passwordForm = h("form", { novalidate: true, class: "stack", "aria-label": "Change password" },
    formAlert(), current, next, passwordButton);
  passwordForm.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearErrors(passwordForm);
    await busy(passwordButton, "Saving…", async () => {
      try {
        const pair = await api("POST", "/me/password", {
          current_password: current.input.value, new_password: next.input.value,
        });
        session.store(pair);
        current.input.value = "";
        next.input.value = "";
        toast("Password changed. Your other devices were signed out.", "success");
        loadActivity();
      } catch (error) {
        showError(passwordForm, error);
      }
    });
  });

  const activity = h("div", null, spinner("Loading activity"));
  async function loadActivity() {
    try {
      const data = await api("GET", "/me/activity");
      replace(activity,
        h("h3", null, "Signed-in sessions"),
        data.sessions.length ? h("div", { class: "table-wrap" }, h("table", { class: "data-table" },
          h("thead", null, h("tr", null, ["Started", "Last used", "Device", "Address"].map((t) => h("th", { scope: "col" }, t)))),
          h("tbody", null, data.sessions.map((s) => h("tr", null,
            h("td", null, dateTime(s.created_at)), h("td", null, dateTime(s.last_used_at)),
            h("td", null, [s.browser, s.os, s.device].filter((x) => x && x !== "Other").join(" · ") || "Unknown"),
            h("td", null, [s.client_ip, s.country].filter(Boolean).join(" · "))))))) : h("p", { class: "muted" }, "None."),
        h("h3", null, "Recent changes"),
        data.changes.length ? h("ul", { class: "timeline" }, data.changes.slice(0, 20).map((c) => h("li", null,
          h("strong", null, actionText(c.action)), h("span", { class: "muted small" }, ` · ${dateTime(c.at)}`),
          c.fields?.length ? h("span", { class: "muted small" }, ` · ${c.fields.join(", ").replaceAll("_", " ")}`) : null)))
          : h("p", { class: "muted" }, "None."));
    } catch (error) {
      replace(activity, errorState(error, loadActivity));
    }
  }

  // --- export -------------------------------------------------------------------------------
  const exportStatus = h("div", { class: "export-status", "aria-live": "polite", id: "export-status" });
  const exportButton = h("button", { type: "button", class: "btn secondary", id: "export-start" }, icon("download"), " Export my data");
  let polls = 0;
  function showExport(view) {
    if (view.status === "ready" && view.url) {
      replace(exportStatus, h("div", { class: "alert success" }, icon("check"),
        h("span", null, "Your data is ready. ",
          h("a", { href: view.url, id: "export-download", class: "strong-link" },
            `Download the archive${view.size_bytes ? ` (${bytes(view.size_bytes)})` : ""}`),
          `. Available until ${date(view.expires_at)}; the link on this page is renewed each time you open it.`)));
    } else if (view.status === "queued") {
      replace(exportStatus, h("div", { class: "alert info" }, h("span", { class: "spinner", "aria-hidden": "true" }),
        h("span", null, "Preparing your archive… We will also email you when it is ready.")));
    } else if (view.status === "expired") {
      replace(exportStatus, h("p", { class: "muted" }, "Your last export expired. Start a new one any time."));
    }
  }
  async function followExport(id) {
    try {
      const view = await api("GET", `/me/export/${encodeURIComponent(id)}`);
      showExport(view);
      if (view.status === "queued" && polls++ < EXPORT_POLL_LIMIT) later(() => followExport(id), EXPORT_POLL_MS);
      if (view.status === "expired") localStorage.removeItem(exportKey(profile));
    } catch (error) {
      if (error.status === 404) {
        localStorage.removeItem(exportKey(profile));
        replace(exportStatus);
      } else {
        replace(exportStatus, errorState(error, () => followExport(id)));
      }
    }
  }
  exportButton.addEventListener("click", () => busy(exportButton, "Starting…", async () => {
    try {
      const started = await api("POST", "/me/export", {});
      try {
        localStorage.setItem(exportKey(profile), started.id);
      } catch {
        // followed for this visit only
      }
      polls = 0;
      showExport(started);
      later(() => followExport(started.id), EXPORT_POLL_MS);
    } catch (error) {
      replace(exportStatus, errorState(error));
    }
  }));
  const storedExport = (() => {
    try {
      return localStorage.getItem(exportKey(profile));
    } catch {
      return null;
    }
  })();
  if (storedExport) followExport(storedExport);

  // --- closing the account ------------------------------------------------------------------
  const closePassword = field({ label: "Your password", name: "password", type: "password", autocomplete: "current-password" });
  const understand = checkbox({ name: "understand",
    label: "I understand that my videos, credits and account will be deleted and cannot be restored." });
  const closeButton = h("button", { type: "submit", class: "btn danger" }, "Delete my account");
  const closeForm = h("form", { novalidate: true, class: "stack", "aria-label": "Delete account" },
    formAlert(), closePassword, understand, closeButton);
  closeForm.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearErrors(closeForm);
    if (!understand.input.checked) {
      showError(closeForm, { field: "understand", message: "Tick the box to confirm you want to delete the account." });
      return;
    }
    await busy(closeButton, "Deleting…", async () => {
      try {
        const answer = await api("DELETE", "/me", { password: closePassword.input.value });
        try {
          localStorage.removeItem(exportKey(profile));
          sessionStorage.setItem("aisora.goodbye", JSON.stringify(answer));
        } catch {
          // the goodbye page then shows the general promise
        }
        session.clear();
        navigate("/goodbye");
      } catch (error) {
        showError(closeForm, error);
      }
    });
  });

  const sections = [
    ["account-profile", "Profile"], ["account-preferences", "Preferences"], ["account-privacy", "Privacy"],
    ["account-security", "Security"], ["account-data", "Your data"], ["account-delete", "Delete account"],
  ];
  const jump = h("nav", { class: "subnav", "aria-label": "Account sections" },
    sections.map(([id, label]) => h("button", {
      type: "button", class: "chip",
      onclick: () => {
        const target = document.getElementById(`${id}-title`);
        target?.scrollIntoView({ behavior: "smooth", block: "start" });
        target?.focus({ preventScroll: true });
      },
    }, label)));

  container.append(
    pageHead("Account", "Your profile, choices and data, in one place."),
    jump,
    h("div", { class: "account-grid" },
      section("account-profile", "Profile", null, profileSlot, emailForm),
      section("account-preferences", "Preferences", "Defaults for the studio and which emails you get.", prefsForm),
      section("account-privacy", "Privacy and consent", null,
        h("p", null, `You accepted the privacy policy version ${policyConsent.version || "—"}`,
          policyConsent.accepted_at ? ` on ${date(policyConsent.accepted_at)}` : "", ". ",
          h("a", { href: "#/privacy" }, "Read the policy"), "."),
        h("div", { class: "stack" }, marketing, analytics, consentStatus),
        h("div", { class: "button-row" },
          h("button", { type: "button", class: "btn ghost small", onclick: () => openBanner({ focus: true }) }, "Cookie settings"),
          h("a", { class: "btn ghost small", href: "#/privacy" }, "Make a privacy request"))),
      section("account-security", "Security", null, passwordForm, activity),
      section("account-data", "Your data",
        "Download a copy of everything we hold about you: profile, consents, videos, credits and session data, as a ZIP archive.",
        exportButton, exportStatus),
      section("account-delete", "Delete account",
        "Closing your account signs you out everywhere at once; your personal data is erased within a day. "
        + "Download anything you want to keep first.",
        closeForm)));
  loadActivity();
  return () => {
    stopped = true;
    for (const t of timers) clearTimeout(t);
  };
}

export async function renderGoodbye(container) {
  let answer = null;
  try {
    answer = JSON.parse(sessionStorage.getItem("aisora.goodbye") || "null");
  } catch {
    answer = null;
  }
  container.append(h("div", { class: "auth-layout" }, h("div", { class: "card auth-card" },
    h("h1", { tabindex: "-1", class: "page-title" }, "Your account is closed"),
    h("p", { class: "lead" }, "Every device was signed out. ",
      answer?.erasure_due_by
        ? `Your personal data will be erased by ${dateTime(answer.erasure_due_by)}; we will email you when it is done.`
        : "Your personal data will be erased within 30 days; we will email you when it is done."),
    h("p", null, "Thank you for trying AISora2."),
    h("a", { class: "btn primary", href: "#/" }, "Back to the home page"))));
}

