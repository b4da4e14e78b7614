// The shell: header navigation, the page for the current hash route, the cookie banner.

import { onSessionExpired, api } from "./api.js";
import { initConsent } from "./consent.js";
import { clear, h, icon, replace } from "./dom.js";
import { credits } from "./format.js";
import { currentRoute, navigate } from "./router.js";
import { session } from "./session.js";
import { loadProfile, onProfile, currentProfile, setProfile } from "./store.js";
import { busy, spinner, toast, errorState } from "./ui.js";
import * as home from "./pages/home.js";
import * as auth from "./pages/auth.js";
import * as pricing from "./pages/pricing.js";
import * as studio from "./pages/studio.js";
import * as videos from "./pages/videos.js";
import * as account from "./pages/account.js";
import * as policy from "./pages/policy.js";
import * as support from "./pages/support.js";

const ROUTES = {
  "/": { page: home.render, title: "Videos from words" },
  "/pricing": { page: pricing.renderPricing, title: "Pricing" },
  "/signup": { page: auth.renderSignup, title: "Create your account", guest: true },
  "/login": { page: auth.renderLogin, title: "Sign in", guest: true },
  "/forgot-password": { page: auth.renderForgot, title: "Reset your password" },
  "/reset-password": { page: auth.renderReset, title: "Choose a new password" },
  "/verify-email": { page: auth.renderVerify, title: "Confirm your email" },
  "/restore-email": { page: auth.renderRestore, title: "Put your email address back" },
  "/studio": { page: studio.render, title: "Studio", private: true },
  "/videos": { page: videos.render, title: "My videos", private: true },
  "/billing": { page: pricing.renderBilling, title: "Billing", private: true },
  "/account": { page: account.render, title: "Account", private: true },
  "/privacy": { page: policy.render, title: "Privacy policy" },
  "/support": { page: support.render, title: "Support" },
  "/goodbye": { page: account.renderGoodbye, title: "Account closed" },
};

const main = document.getElementById("main");
const nav = document.getElementById("site-nav");
const toggle = document.getElementById("nav-toggle");
let cleanup = null;
let firstRender = true;
let renderToken = 0;

function navLink(href, label, path) {
  const active = path === href.slice(1);
  return h("a", { href, class: "nav-link", "aria-current": active ? "page" : null }, label);
}

function renderNav() {
  const { path } = currentRoute();
  if (session.signedIn) {
    const profile = currentProfile();
    replace(nav,
      navLink("#/studio", "Studio", path),
      navLink("#/videos", "My videos", path),
      navLink("#/billing", "Billing", path),
      navLink("#/account", "Account", path),
      h("a", { href: "#/billing", class: "credit-pill", id: "credit-pill", title: "Your credit balance" },
        icon("coin"), h("span", null, profile ? credits(profile.credits) : "…")),
      h("button", { type: "button", class: "btn ghost small", onclick: signOut }, "Sign out"));
  } else {
    replace(nav,
      navLink("#/pricing", "Pricing", path),
      navLink("#/support", "Support", path),
      navLink("#/login", "Sign in", path),
      h("a", { href: "#/signup", class: "btn primary small" }, "Start free"));
  }
}

function signOut() {
  const token = session.refreshToken;
  session.clear();
  toast("You are signed out.");
  navigate("/");
  if (token) {
    // Ends the session on the server too; if this fails it still ends on its own.
    api("POST", "/auth/logout", { refresh_token: token }, { auth: false }).catch(() => {});
  }
}

function setMenu(open) {
  toggle.setAttribute("aria-expanded", String(open));
  nav.classList.toggle("open", open);
}

async function route() {
  const { path, params } = currentRoute();
  const entry = ROUTES[path];
  setMenu(false);
  if (cleanup) {
    try {
      cleanup();
    } catch {
      // a page that failed to clean up must not stop the next one
    }
    cleanup = null;
  }
  if (entry?.private && !session.signedIn) {
    navigate(`/login?next=${encodeURIComponent(path)}`);
    return;
  }
  if (entry?.guest && session.signedIn) {
    navigate("/studio");
    return;
  }
  renderNav();
  const token = ++renderToken;
  document.title = `${entry ? entry.title : "Not found"} · AISora2`;
  document.body.dataset.route = path.slice(1) || "home";
  replace(main, spinner());
  const container = h("div", { class: "page" });
  try {
    if (!entry) {
      container.append(h("div", { class: "page-head" },
        h("h1", { tabindex: "-1", class: "page-title" }, "Page not found"),
        h("p", { class: "lead" }, "This address has no page. ", h("a", { href: "#/" }, "Go to the home page"), ".")));
    } else {
      const result = await entry.page(container, { params, path });
      if (token !== renderToken) {
        if (typeof result === "function") result();
        return;
      }
      if (typeof result === "function") cleanup = result;
    }
  } catch (error) {
    if (token !== renderToken) return;
    clear(container);
    container.append(h("div", { class: "page-head" }, h("h1", { tabindex: "-1", class: "page-title" }, "Something went wrong")),
      errorState(error, () => route()));
  }
  replace(main, container);
  if (!firstRender) {
    window.scrollTo(0, 0);
    (main.querySelector("h1") || main).focus({ preventScroll: true });
  }
  firstRender = false;
}

toggle.addEventListener("click", () => setMenu(toggle.getAttribute("aria-expanded") !== "true"));
document.addEventListener("keydown", (event) => {
  if (event.key === "Escape" && nav.classList.contains("open")) {
    setMenu(false);
    toggle.focus();
  }
});
document.getElementById("skip-link").addEventListener("click", (event) => {
  event.preventDefault();
  (main.querySelector("h1") || main).focus();
});

window.addEventListener("hashchange", route);
session.onChange(() => renderNav());
/** After a material change to the privacy policy, the person is asked to accept it again. */
function renderNotices(profile) {
  const slot = document.getElementById("notices");
  const consent = profile?.consents?.privacy_policy;
  if (!consent?.acceptance_required) {
    replace(slot);
    return;
  }
  const accept = h("button", { type: "button", class: "btn primary small" }, "Accept the new policy");
  accept.addEventListener("click", () => busy(accept, "Saving…", async () => {
    try {
      setProfile(await api("POST", "/me/policy-acceptance", { version: consent.in_force }));
      toast("Thank you. You accepted the updated privacy policy.", "success");
    } catch (error) {
      toast(error.message, "error");
    }
  }));
  replace(slot, h("section", { class: "notice-bar", "aria-label": "Privacy policy update" },
    icon("shield"),
    h("p", null, h("strong", null, "Our privacy policy has changed. "),
      `Please read version ${consent.in_force} and accept it to keep using AISora2.`),
    h("div", { class: "button-row" },
      h("a", { class: "btn ghost small", href: "#/privacy" }, "Read the policy"), accept)));
}

onProfile((profile) => {
  const pill = document.getElementById("credit-pill");
  if (pill && profile) replace(pill, icon("coin"), h("span", null, credits(profile.credits)));
  renderNotices(profile);
});
onSessionExpired(() => {
  const { path } = currentRoute();
  toast("Your session has ended. Please sign in again.", "error");
  if (ROUTES[path]?.private) navigate(`/login?next=${encodeURIComponent(path)}`);
  else renderNav();
});

initConsent();
route();
if (session.signedIn) loadProfile().catch(() => {});
