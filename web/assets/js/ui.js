// Shared pieces of the interface: form fields with their errors, toasts, busy buttons.

import { h, nextId, replace, icon } from "./dom.js";

/**
 * A labelled input with a hint and an error slot, wired with aria-describedby.
 * Returns the wrapper; the input is wrapper.input.
 */
export function field({ label, name, type = "text", hint, error, options, ...attrs }) {
  const id = nextId(name);
  const hintId = hint ? `${id}-hint` : null;
  const errorId = `${id}-error`;
  let input;
  const described = [hintId, errorId].filter(Boolean).join(" ");
  if (type === "textarea") {
    input = h("textarea", { id, name, "aria-describedby": described, ...attrs });
  } else if (type === "select") {
    input = h("select", { id, name, "aria-describedby": described, ...attrs },
      options.map((o) => h("option", { value: o.value, selected: o.selected }, o.label)));
  } else {
    input = h("input", { id, name, type, "aria-describedby": described, ...attrs });
  }
  const wrap = h("div", { class: "field" },
    h("label", { for: id }, label),
    hint ? h("p", { class: "hint", id: hintId }, hint) : null,
    input,
    h("p", { class: "field-error", id: errorId, hidden: !error }, error || ""),
  );
  wrap.input = input;
  return wrap;
}

/** A checkbox with its label after it (the label can hold links). */
export function checkbox({ name, label, checked = false, hint, ...attrs }) {
  const id = nextId(name);
  const errorId = `${id}-error`;
  const hintId = hint ? `${id}-hint` : null;
  const input = h("input", {
    type: "checkbox", id, name, checked,
    "aria-describedby": [hintId, errorId].filter(Boolean).join(" "), ...attrs,
  });
  const wrap = h("div", { class: "field check" },
    h("div", { class: "check-row" }, input, h("label", { for: id }, label)),
    hint ? h("p", { class: "hint", id: hintId }, hint) : null,
    h("p", { class: "field-error", id: errorId, hidden: true }),
  );
  wrap.input = input;
  return wrap;
}

/** The alert at the top of a form, for errors that name no field. */
export function formAlert() {
  return h("div", { class: "alert error", role: "alert", hidden: true });
}

/**
 * Shows an ApiError on a form: next to the input it names when there is one (focused),
 * otherwise in the form's alert. Extra is appended to the alert (a link to act on it).
 */
export function showError(form, error, extra = null) {
  clearErrors(form);
  const fieldName = error.field || "";
  const target = fieldName
    ? form.querySelector(`[name="${CSS.escape(fieldName)}"]`)
      || form.querySelector(`[name="${CSS.escape(fieldName.split(".").pop())}"]`)
    : null;
  if (target) {
    const slot = document.getElementById(`${target.id}-error`);
    target.setAttribute("aria-invalid", "true");
    if (slot) {
      replace(slot, icon("alert"), " ", error.message, extra ? [" ", extra] : []);
      slot.hidden = false;
      slot.setAttribute("role", "alert");
    }
    target.focus();
    return;
  }
  const alert = form.querySelector(".alert.error");
  if (alert) {
    replace(alert, icon("alert"), h("span", null, error.message, extra ? [" ", extra] : []));
    alert.hidden = false;
    alert.focus?.();
  }
}

export function clearErrors(form) {
  for (const input of form.querySelectorAll("[aria-invalid]")) input.removeAttribute("aria-invalid");
  for (const slot of form.querySelectorAll(".field-error")) {
    slot.hidden = true;
    slot.removeAttribute("role");
    replace(slot);
  }
  for (const alert of form.querySelectorAll(".alert.error")) {
    alert.hidden = true;
    replace(alert);
  }
}

/** Disables a button and shows a working label while the promise runs. */
export async function busy(button, workingLabel, run) {
  const content = [...button.childNodes];
  button.disabled = true;
  button.setAttribute("aria-busy", "true");
  button.classList.add("is-busy");
  if (workingLabel) button.textContent = workingLabel;
  try {
    return await run();
  } finally {
    button.disabled = false;
    button.removeAttribute("aria-busy");
    button.classList.remove("is-busy");
    if (workingLabel) button.replaceChildren(...content);
  }
}

/** A short message announced by screen readers (polite) and shown for a few seconds. */
export function toast(message, kind = "info") {
  const region = document.getElementById("toasts");
  if (!region) return;
  const item = h("div", { class: `toast ${kind}` },
    icon(kind === "error" ? "alert" : "check"), h("span", null, message),
    h("button", {
      type: "button", class: "toast-close", "aria-label": "Dismiss",
      onclick: () => item.remove(),
    }, icon("close")));
  region.append(item);
  while (region.children.length > 3) region.firstElementChild.remove();
  setTimeout(() => item.remove(), kind === "error" ? 9000 : 6000);
}

/** A page heading block: h1 (focused on navigation) and a lead paragraph. */
export function pageHead(title, lead, ...extra) {
  return h("div", { class: "page-head" },
    h("h1", { tabindex: "-1", class: "page-title" }, title),
    lead ? h("p", { class: "lead" }, lead) : null,
    extra);
}

export function spinner(label = "Loading") {
  return h("div", { class: "loading", role: "status" }, h("span", { class: "spinner", "aria-hidden": "true" }),
    h("span", null, `${label}…`));
}

/** An error state for a whole section, with a retry button. */
export function errorState(error, retry) {
  return h("div", { class: "alert error", role: "alert" }, icon("alert"),
    h("span", null, error.message || String(error)),
    retry ? h("button", { type: "button", class: "btn small ghost", onclick: retry }, "Try again") : null);
}
