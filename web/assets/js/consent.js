// The cookie and storage choice. Necessary storage (the sign-in tokens, in sessionStorage)
// needs no consent; analytics does, and stays off until the person turns it on. The choice
// lives in localStorage and, once signed in, is sent with PATCH /me/consents. No analytics
// code exists in this client: analyticsAllowed() is the gate any future one must pass.

import { api } from "./api.js";
import { h, icon, nextId } from "./dom.js";
import { session } from "./session.js";
import { currentProfile, onProfile } from "./store.js";
import { toast } from "./ui.js";

const KEY = "aisora.cookie_choice";

export function getChoice() {
  try {
    const raw = localStorage.getItem(KEY);
    const parsed = raw ? JSON.parse(raw) : null;
    return parsed && typeof parsed.analytics === "boolean" ? parsed : null;
  } catch {
    return null;
  }
}

function saveChoice(choice) {
  try {
    localStorage.setItem(KEY, JSON.stringify(choice));
  } catch {
    // storage blocked: the choice holds for this page only
  }
}

export function analyticsAllowed() {
  return getChoice()?.analytics === true;
}

let syncing = null;

/** Sends the local choice to the account when it has not been sent for this person yet. */
export async function syncChoice(profile = currentProfile()) {
  while (syncing) await syncing; // one PATCH at a time: the second caller then finds it sent
  const choice = getChoice();
  if (!choice || !profile || !session.signedIn) return;
  if (choice.synced_for === profile.id && choice.synced_value === choice.analytics) return;
  syncing = (async () => {
    try {
      await api("PATCH", "/me/consents", { analytics: choice.analytics });
      saveChoice({ ...getChoice(), synced_for: profile.id, synced_value: choice.analytics });
    } catch {
      // tried again the next time the profile loads
    }
  })();
  try {
    await syncing;
  } finally {
    syncing = null;
  }
}

/** Records the person's decision; returns once it is stored (and sent when signed in). */
export async function decide(analytics) {
  saveChoice({ analytics, decided_at: new Date().toISOString() });
  await syncChoice();
}

let banner = null;

export function closeBanner() {
  banner?.remove();
  banner = null;
  document.body.classList.remove("has-cookie-banner");
}

/** The banner: two equal choices, and the details of each category on request. */
export function openBanner({ focus = false } = {}) {
  const slot = document.getElementById("cookie-banner-slot");
  if (!slot) return;
  closeBanner();
  const current = getChoice();
  const titleId = nextId("cookie-title");
  const analyticsBox = h("input", {
    type: "checkbox", id: nextId("analytics"), name: "analytics", checked: current?.analytics === true,
  });
  const choose = async (analytics) => {
    await decide(analytics);
    closeBanner();
    toast(analytics ? "Analytics cookies allowed. You can change this any time."
      : "Only necessary storage is used. You can change this any time.");
    document.getElementById("main")?.focus();
  };
  banner = h("section", { class: "cookie-banner", "aria-labelledby": titleId, id: "cookie-banner" },
    h("div", { class: "cookie-inner" },
      h("div", { class: "cookie-text" },
        h("h2", { id: titleId }, icon("shield"), " Your privacy, your choice"),
        h("p", null,
          "We only use what is necessary to keep you signed in, kept in this browser tab. "
          + "Analytics would help us learn which features are useful; it stays off unless you allow it. "
          + "(Today this site sends no analytics anywhere.) ",
          h("a", { href: "#/privacy" }, "Privacy policy")),
        h("details", { class: "cookie-details" },
          h("summary", null, "Choose by category"),
          h("ul", { class: "cookie-categories" },
            h("li", null,
              h("div", { class: "check-row" },
                h("input", { type: "checkbox", id: "cookie-necessary", checked: true, disabled: true }),
                h("label", { for: "cookie-necessary" }, h("strong", null, "Necessary"), " — always on")),
              h("p", { class: "hint" }, "Your sign-in, held in session storage for this tab; and this choice.")),
            h("li", null,
              h("div", { class: "check-row" }, analyticsBox,
                h("label", { for: analyticsBox.id }, h("strong", null, "Analytics"), " — off unless you allow it")),
              h("p", { class: "hint" }, "Counts of pages and features used, never your prompts or videos."))),
          h("button", {
            type: "button", class: "btn ghost small", onclick: () => choose(analyticsBox.checked),
          }, "Save my choice"))),
      h("div", { class: "cookie-actions" },
        h("button", { type: "button", class: "btn secondary", onclick: () => choose(false) }, "Necessary only"),
        h("button", { type: "button", class: "btn secondary", onclick: () => choose(true) }, "Allow analytics"))));
  slot.append(banner);
  document.body.classList.add("has-cookie-banner");
  if (focus) banner.querySelector("button")?.focus();
}

export function initConsent() {
  if (!getChoice()) openBanner();
  document.getElementById("cookie-settings")?.addEventListener("click", () => openBanner({ focus: true }));
  onProfile((profile) => {
    if (profile) syncChoice(profile);
  });
}
