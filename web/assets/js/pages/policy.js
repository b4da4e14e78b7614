// The privacy policy as GET /policy serves it, and the form for a privacy request.

import { api } from "../api.js";
import { h, icon } from "../dom.js";
import { date } from "../format.js";
import { session } from "../session.js";
import { getPolicy, loadProfile } from "../store.js";
import { busy, clearErrors, field, formAlert, pageHead, showError } from "../ui.js";

const REQUEST_TYPES = [
  ["access", "Get a copy of my data"],
  ["correction", "Correct my data"],
  ["deletion", "Delete my data"],
  ["objection", "Object to how my data is used"],
  ["withdrawal", "Withdraw a consent"],
  ["child_report", "Report an account of a child under 13"],
  ["other", "Something else"],
];

const SMALL_WORDS = new Set(["a", "an", "and", "as", "at", "by", "for", "in", "of", "on", "or", "the", "to", "with"]);

/** "Access and Portability" is a heading; "Account preferences and settings" is not. */
function titleCase(line) {
  return line.split(/\s+/).every((word) => SMALL_WORDS.has(word) || !/^[a-z]/.test(word));
}

/**
 * The policy is plain text with blank-line paragraphs. Short Title Case lines are headings
 * (a section when prose follows, a subsection when a list does); other short lines without a
 * full stop, and lines starting with a bullet, are list items.
 */
function policyBody(text) {
  const blocks = text.split(/\n\s*\n/).map((b) => b.trim()).filter(Boolean)
    .filter((b) => b !== "Back to Home" && b !== "Privacy Policy") // the page has its own
    .filter((b) => !/^(Last Updated|Effective Date|Contact):/.test(b)); // shown above
  const kinds = blocks.map((block) => {
    if (block.startsWith("•")) return "item";
    const oneLine = !block.includes("\n");
    if (oneLine && block.length <= 60 && !/[.:;,!?]$/.test(block) && titleCase(block)) return "heading";
    if (oneLine && block.length <= 200 && !/[.:!?]$/.test(block)) return "item";
    return "paragraph";
  });
  const out = [];
  let list = null;
  blocks.forEach((block, i) => {
    if (kinds[i] === "item") {
      if (!list) {
        list = h("ul", { class: "policy-list" });
        out.push(list);
      }
      for (const line of block.split("\n")) list.append(h("li", null, line.trim().replace(/^•\s*/, "")));
      return;
    }
    list = null;
    if (kinds[i] === "heading") {
      const section = kinds[i + 1] !== "item";
      out.push(h(section ? "h2" : "h3", { class: section ? "policy-heading" : "policy-subheading" }, block));
    } else {
      out.push(h("p", null, block));
    }
  });
  return out;
}

export async function render(container) {
  const policy = await getPolicy();
  const profile = session.signedIn ? await loadProfile().catch(() => null) : null;

  const type = field({
    label: "What would you like us to do?", name: "type", type: "select",
    options: REQUEST_TYPES.map(([value, label]) => ({ value, label })),
  });
  const email = profile ? null : field({
    label: "Your email", name: "email", type: "email", autocomplete: "email",
    hint: "So we can answer you. Signed-in requests use your account's address.",
  });
  const childEmail = field({
    label: "The child's account email", name: "child_email", type: "email",
    hint: "We review every report. We tell the account's owner, never who reported; "
      + "we delete the account when it is a child's.",
  });
  childEmail.hidden = true;
  const message = field({ label: "Details (optional)", name: "message", type: "textarea", rows: "4", maxlength: "5000" });
  const submit = h("button", { type: "submit", class: "btn secondary" }, "Send request");
  const done = h("div", { role: "status" });
  const form = h("form", { novalidate: true, class: "stack", "aria-label": "Privacy request" },
    formAlert(), type, email, childEmail, message, submit, done);
  type.input.addEventListener("change", () => {
    childEmail.hidden = type.input.value !== "child_report";
  });
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearErrors(form);
    const body = { type: type.input.value, message: message.input.value };
    if (email) body.email = email.input.value.trim();
    if (body.type === "child_report") body.child_email = childEmail.input.value.trim();
    await busy(submit, "Sending…", async () => {
      try {
        const answer = await api("POST", "/privacy/requests", body, { auth: Boolean(profile) });
        form.replaceWith(h("div", { class: "alert success", role: "status" }, icon("check"),
          h("span", null, `Thank you. We received your request on ${date(answer.received_at)} and will answer by `
            + `${date(answer.due_at)}. Your reference is ${answer.id}.`)));
      } catch (error) {
        showError(form, error);
      }
    });
  });

  container.append(
    pageHead("Privacy policy", null,
      h("p", { class: "muted" },
        `Version ${policy.version} · effective ${date(policy.effective_date)} · last updated ${date(policy.last_updated)} · `,
        "contact ", h("a", { href: `mailto:${policy.contact}` }, policy.contact))),
    h("div", { class: "policy-layout" },
      h("article", { class: "card policy-text" }, policyBody(policy.text)),
      h("aside", { class: "policy-aside" },
        h("section", { class: "card", "aria-labelledby": "rights-title", id: "requests" },
          h("h2", { id: "rights-title" }, "Use your privacy rights"),
          h("p", { class: "muted" },
            `We answer within ${policy.request_response_days || 30} days. `,
            profile ? ["You can also ", h("a", { href: "#/account" }, "export your data or delete your account"), " yourself."]
              : "Signed in, you can export your data or delete your account yourself."),
          form))));
}
