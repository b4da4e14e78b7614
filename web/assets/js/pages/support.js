// The support form: POST /support, answered within three business days.

import { api } from "../api.js";
import { h, icon } from "../dom.js";
import { dateTime } from "../format.js";
import { session } from "../session.js";
import { loadProfile } from "../store.js";
import { busy, clearErrors, field, formAlert, pageHead, showError } from "../ui.js";

export async function render(container) {
  const profile = session.signedIn ? await loadProfile().catch(() => null) : null;
  const email = field({ label: "Your email", name: "email", type: "email", autocomplete: "email", value: profile?.email || "" });
  const subject = field({ label: "Subject", name: "subject", maxlength: "200" });
  const message = field({ label: "How can we help?", name: "message", type: "textarea", rows: "6", maxlength: "5000",
    hint: "Tell us what happened and, for a video, roughly when you made it. Never send your password." });
  const submit = h("button", { type: "submit", class: "btn primary" }, "Send message");
  const form = h("form", { novalidate: true, class: "stack", "aria-label": "Contact support" },
    formAlert(), email, subject, message, submit);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearErrors(form);
    await busy(submit, "Sending…", async () => {
      try {
        const answer = await api("POST", "/support", {
          email: email.input.value.trim(), subject: subject.input.value.trim(), message: message.input.value,
        }, { auth: Boolean(profile) });
        form.replaceWith(h("div", { class: "alert success", role: "status", tabindex: "-1" }, icon("check"),
          h("span", null, `Thank you — we received your message and will answer by ${dateTime(answer.respond_by)}. `
            + `Your reference is ${answer.id}.`)));
      } catch (error) {
        showError(form, error);
      }
    });
  });
  container.append(h("div", { class: "narrow" },
    pageHead("Support", "A real person reads every message and answers within three business days."),
    h("div", { class: "card" }, form),
    h("p", { class: "muted small" }, "Questions about your data? See the ", h("a", { href: "#/privacy" }, "privacy page"), ".")));
}
