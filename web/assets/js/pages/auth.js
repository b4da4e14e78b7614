// Signing up and in, resetting a password, confirming an email address.

import { api } from "../api.js";
import { syncChoice } from "../consent.js";
import { h, icon } from "../dom.js";
import { credits } from "../format.js";
import { navigate } from "../router.js";
import { session } from "../session.js";
import { getCatalogue, getPolicy, loadProfile, setProfile } from "../store.js";
import { busy, checkbox, clearErrors, field, formAlert, pageHead, showError, toast } from "../ui.js";

/** A password input with a button that shows or hides what was typed. */
function passwordField(options) {
  const wrap = field({ type: "password", ...options });
  const input = wrap.input;
  const reveal = h("button", {
    type: "button", class: "reveal", "aria-pressed": "false", "aria-label": `Show ${options.label.toLowerCase()}`,
    onclick: () => {
      const show = input.type === "password";
      input.type = show ? "text" : "password";
      reveal.setAttribute("aria-pressed", String(show));
      reveal.textContent = show ? "Hide" : "Show";
    },
  }, "Show");
  const holder = h("div", { class: "with-action" });
  input.replaceWith(holder);
  holder.append(input, reveal);
  return wrap;
}

function authCard(title, lead, form, footer) {
  return h("div", { class: "auth-layout" },
    h("div", { class: "card auth-card" }, pageHead(title, lead), form, footer ? h("div", { class: "auth-footer" }, footer) : null));
}

/** A button that mails the confirmation link again (signed in only). */
export function resendLinkButton(label = "Send me a new link", className = "btn secondary") {
  return h("button", {
    type: "button", class: className,
    onclick: (event) => busy(event.currentTarget, "Sending…", async () => {
      try {
        await api("POST", "/auth/verify-email/resend", {});
        toast("A new confirmation link is on its way.", "success");
      } catch (error) {
        toast(error.message, "error");
      }
    }),
  }, label);
}

/** Where to go after signing in: the page that asked for it, when it is one of ours. */
function nextPath(params) {
  const next = params.get("next") || "";
  return /^\/[a-z-]+$/.test(next) ? next : "/studio";
}

async function afterSignIn(pair) {
  session.store(pair);
  const profile = await loadProfile(true);
  await syncChoice(profile);
  return profile;
}

export async function renderSignup(container) {
  const [policy, catalogue] = await Promise.all([getPolicy(), getCatalogue().catch(() => null)]);
  const grant = catalogue?.signup_credits ?? 40;
  const email = field({ label: "Email", name: "email", type: "email", autocomplete: "email", required: true });
  const password = passwordField({
    label: "Password", name: "password", autocomplete: "new-password", required: true,
    hint: "At least 8 characters. A few unrelated words make a strong, memorable password.",
  });
  const birth = field({
    label: "Birth date", name: "birth_date", type: "date", required: true,
    hint: `You must be at least ${policy.minimum_age ?? 13}. We check your age and never keep the date.`,
  });
  const accept = checkbox({
    name: "accept_policy_version",
    label: ["I have read and accept the ",
      h("a", { href: "#/privacy", target: "_blank", rel: "noopener" }, "Privacy Policy"),
      ` (version ${policy.version}).`],
  });
  const marketing = checkbox({
    name: "marketing_opt_in",
    label: "Email me product news and offers. Optional; you can change this any time.",
  });
  const submit = h("button", { type: "submit", class: "btn primary block" }, "Create account");
  const form = h("form", { novalidate: true, class: "stack", "aria-label": "Sign up" },
    formAlert(), email, password, birth, accept, marketing, submit);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearErrors(form);
    if (!accept.input.checked) {
      showError(form, { field: "accept_policy_version", message: "Please accept the privacy policy to create an account." });
      return;
    }
    await busy(submit, "Creating your account…", async () => {
      try {
        const pair = await api("POST", "/auth/signup", {
          email: email.input.value.trim(),
          password: password.input.value,
          birth_date: birth.input.value,
          accept_policy_version: policy.version,
          marketing_opt_in: marketing.input.checked,
        }, { auth: false });
        const profile = await afterSignIn(pair);
        toast(`Welcome to AISora2! Confirm your email with the link we sent to ${profile?.email ?? "you"}: `
          + `your ${credits(profile?.signup_credits || grant)} are yours once you do.`, "success");
        navigate("/studio");
      } catch (error) {
        const extra = error.code === "email_taken" ? h("a", { href: "#/login" }, "Sign in instead") : null;
        showError(form, error, extra);
      }
    });
  });
  container.append(authCard("Create your account",
    `Start with ${credits(grant)} — enough for your first video — once you confirm your email.`, form,
    ["Already have an account? ", h("a", { href: "#/login" }, "Sign in")]));
}

export async function renderLogin(container, { params }) {
  const email = field({ label: "Email", name: "email", type: "email", autocomplete: "email", required: true });
  const password = passwordField({ label: "Password", name: "password", autocomplete: "current-password", required: true });
  const submit = h("button", { type: "submit", class: "btn primary block" }, "Sign in");
  const form = h("form", { novalidate: true, class: "stack", "aria-label": "Sign in" },
    formAlert(), email, password,
    h("p", { class: "form-aside" }, h("a", { href: "#/forgot-password" }, "Forgot your password?")),
    submit);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearErrors(form);
    await busy(submit, "Signing in…", async () => {
      try {
        const pair = await api("POST", "/auth/login", {
          email: email.input.value.trim(), password: password.input.value,
        }, { auth: false });
        await afterSignIn(pair);
        toast("Welcome back!", "success");
        navigate(nextPath(params));
      } catch (error) {
        // The API names no field for a wrong email or password: say it above the form.
        showError(form, error.code === "invalid_credentials" ? { message: error.message } : error);
      }
    });
  });
  container.append(authCard("Sign in", "Welcome back. Your studio is waiting.", form,
    ["New to AISora2? ", h("a", { href: "#/signup" }, "Create an account")]));
}

export async function renderForgot(container) {
  const email = field({ label: "Email", name: "email", type: "email", autocomplete: "email", required: true });
  const submit = h("button", { type: "submit", class: "btn primary block" }, "Email me a reset link");
  const done = h("div", { class: "alert success", role: "status", hidden: true });
  const form = h("form", { novalidate: true, class: "stack", "aria-label": "Request a password reset" },
    formAlert(), email, submit, done);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearErrors(form);
    done.hidden = true;
    await busy(submit, "Sending…", async () => {
      try {
        const answer = await api("POST", "/auth/password-reset", { email: email.input.value.trim() }, { auth: false });
        done.textContent = `${answer?.message || "If an account uses this email, a reset link is on its way."} `
          + "The link works for 30 minutes.";
        done.hidden = false;
      } catch (error) {
        showError(form, error);
      }
    });
  });
  container.append(authCard("Reset your password", "We will email you a link to choose a new one.", form,
    ["Remembered it? ", h("a", { href: "#/login" }, "Sign in")]));
}

export async function renderReset(container, { params }) {
  const token = params.get("token");
  if (!token) {
    container.append(authCard("Choose a new password", null,
      h("div", { class: "alert error", role: "alert" }, icon("alert"),
        h("span", null, "This page needs the link from your email. ",
          h("a", { href: "#/forgot-password" }, "Ask for a new link"), "."))));
    return;
  }
  const password = passwordField({
    label: "New password", name: "password", autocomplete: "new-password", required: true,
    hint: "At least 8 characters. A few unrelated words make a strong password.",
  });
  const again = field({ label: "Type it again", name: "password_again", type: "password", autocomplete: "new-password", required: true });
  const submit = h("button", { type: "submit", class: "btn primary block" }, "Set new password");
  const form = h("form", { novalidate: true, class: "stack", "aria-label": "Choose a new password" },
    formAlert(), password, again, submit);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearErrors(form);
    if (password.input.value !== again.input.value) {
      showError(form, { field: "password_again", message: "The two passwords are not the same." });
      return;
    }
    await busy(submit, "Saving…", async () => {
      try {
        // The reset signs this device in (even while sign-in is paused after failed attempts).
        const pair = await api("POST", "/auth/password-reset/confirm", { token, password: password.input.value }, { auth: false });
        session.clear();
        await afterSignIn(pair);
        toast("Your password is changed; every other device was signed out.", "success");
        navigate("/studio");
      } catch (error) {
        const extra = error.field === "token" ? h("a", { href: "#/forgot-password" }, "Ask for a new link") : null;
        showError(form, error, extra);
      }
    });
  });
  container.append(authCard("Choose a new password", "Pick something you have not used here before.", form));
}

export async function renderVerify(container, { params }) {
  const token = params.get("token");
  const status = h("div", { class: "stack", "aria-live": "polite" });
  container.append(authCard("Confirm your email", null, status));
  if (!token) {
    status.append(h("div", { class: "alert error", role: "alert" }, icon("alert"),
      h("span", null, "This page needs the link from your email.")));
    return;
  }
  status.append(h("p", null, "Confirming your address…"));
  try {
    const profile = await api("POST", "/auth/verify-email", { token }, { auth: false });
    if (session.signedIn && profile) setProfile(profile);
    status.replaceChildren(h("div", { class: "alert success", role: "status" }, icon("check"),
      h("span", null, `Thank you — ${profile?.email || "your address"} is confirmed.`)),
      h("a", { class: "btn primary", href: session.signedIn ? "#/studio" : "#/login" },
        session.signedIn ? "Go to the studio" : "Sign in"));
  } catch (error) {
    const profile = session.signedIn ? await loadProfile(true).catch(() => null) : null;
    if (profile?.email_verified && !profile.pending_email) {
      status.replaceChildren(h("div", { class: "alert info", role: "status" }, icon("check"),
        h("span", null, `This link was already used: ${profile.email} is confirmed.`)),
      h("a", { class: "btn primary", href: "#/studio" }, "Go to the studio"));
      return;
    }
    const resend = session.signedIn
      ? resendLinkButton()
      : h("p", null, "Sign in and open your account page to get a new link.");
    status.replaceChildren(h("div", { class: "alert error", role: "alert" }, icon("alert"), h("span", null, error.message)), resend);
  }
}

export async function renderRestore(container, { params }) {
  const token = params.get("token");
  const status = h("div", { class: "stack", "aria-live": "polite" });
  container.append(authCard("Put your email address back", null, status));
  if (!token) {
    status.append(h("div", { class: "alert error", role: "alert" }, icon("alert"),
      h("span", null, "This page needs the link from your email.")));
    return;
  }
  const submit = h("button", { type: "button", class: "btn primary" }, "Put my address back and sign everyone out");
  status.append(h("p", null, "If you did not change your AISora2 email address, this puts your old address back, "
    + "signs every device out and stops the current password. We then email you a link to choose a new one."), submit);
  submit.addEventListener("click", () => busy(submit, "Restoring…", async () => {
    try {
      const answer = await api("POST", "/auth/restore-email", { token }, { auth: false });
      session.clear();
      status.replaceChildren(h("div", { class: "alert success", role: "status" }, icon("check"),
        h("span", null, `${answer.email} is your account's address again, and every device was signed out. `
          + "Open the link we just emailed there to choose a new password.")));
    } catch (error) {
      status.replaceChildren(h("div", { class: "alert error", role: "alert" }, icon("alert"), h("span", null, error.message)),
        h("p", null, "Need help? Write to contact@aisora2.com."));
    }
  }));
}
