// The studio: a prompt, a model, a length and a size, sound and a negative prompt where the model
// offers them, optional start and end images where it takes them; the price in credits before starting.

import { h, icon, nextId, replace } from "../dom.js";
import { credits, number, sizeInfo } from "../format.js";
import { END, referencePicker, submitVideo } from "../reference.js";
import { navigate } from "../router.js";
import { getCatalogue, loadProfile } from "../store.js";
import { busy, checkbox, clearErrors, formAlert, pageHead, showError, toast } from "../ui.js";
import { resendLinkButton } from "./auth.js";

const MAX_PROMPT = 2000;
const MAX_NEGATIVE_PROMPT = 500;
const IDEAS = [
  "A red fox trotting through fresh snow at sunrise, low camera, soft golden light",
  "A paper boat drifting down a neon-lit canal at dusk, slow dolly shot",
  "Koi fish circling in a clear pond, seen from above, ripples catching the light",
  "A tiny robot watering a windowsill garden on a rainy afternoon",
];

function radioGroup({ legend, name, options, selected, className, errorId }) {
  const group = nextId(name);
  return h("fieldset", { class: className, "aria-describedby": errorId },
    h("legend", null, legend),
    options.map((option) => {
      const id = `${group}-${option.value}`;
      return h("span", { class: "choice" },
        h("input", { type: "radio", name, id, value: option.value, checked: String(option.value) === String(selected) }),
        h("label", { for: id }, option.content));
    }));
}

export async function render(container) {
  const [catalogue, profile] = await Promise.all([getCatalogue(), loadProfile(true)]);
  const models = catalogue.models;
  const prefs = profile.preferences || {};
  const state = {
    model: models.find((m) => m.id === prefs.default_model)?.id || models[0].id,
    seconds: prefs.default_seconds || 4,
    size: prefs.default_size || null,
    audio: false,
  };
  const modelOf = (id) => models.find((m) => m.id === id) || models[0];
  const fixState = () => {
    const model = modelOf(state.model);
    if (!model.sizes.includes(state.size)) state.size = model.sizes[0];
    if (!model.seconds.includes(Number(state.seconds))) state.seconds = model.seconds[0];
    if (!model.audio) state.audio = false;
  };
  const perSecond = () => {
    const model = modelOf(state.model);
    return model.credits_per_second[state.size] + (state.audio ? model.audio_credits_per_second[state.size] : 0);
  };
  fixState();

  const promptId = nextId("prompt");
  const prompt = h("textarea", {
    id: promptId, name: "prompt", rows: "5", maxlength: String(MAX_PROMPT), required: true,
    placeholder: "Describe the scene: the subject, where it is, the light, how the camera moves…",
    "aria-describedby": `${promptId}-count ${promptId}-error`,
  });
  const counter = h("p", { class: "hint counter", id: `${promptId}-count` }, `0 / ${number(MAX_PROMPT)} characters`);
  prompt.addEventListener("input", () => {
    counter.textContent = `${number(prompt.value.length)} / ${number(MAX_PROMPT)} characters`;
  });
  const ideas = h("div", { class: "ideas" },
    h("span", { class: "muted small" }, "Need an idea?"),
    IDEAS.slice(0, 3).map((idea) => h("button", {
      type: "button", class: "chip",
      onclick: () => {
        prompt.value = idea;
        prompt.dispatchEvent(new Event("input"));
        prompt.focus();
      },
    }, idea.split(",")[0])));

  const audioField = checkbox({ name: "audio", label: "Sound", hint: "Sound costs extra" });
  const audio = audioField.input;
  const audioHint = audioField.querySelector(".hint");
  const negativeId = nextId("negative-prompt");
  const negative = h("input", {
    type: "text", id: negativeId, name: "negative_prompt", maxlength: String(MAX_NEGATIVE_PROMPT), autocomplete: "off",
    placeholder: "For example: text, blur, watermarks", "aria-describedby": `${negativeId}-hint ${negativeId}-error`,
  });
  const negativeField = h("div", { class: "field" },
    h("label", { for: negativeId }, "Leave out ", h("span", { class: "muted optional" }, "(optional)")),
    h("p", { class: "hint", id: `${negativeId}-hint` }, "What the video should not show."),
    negative,
    h("p", { class: "field-error", id: `${negativeId}-error`, hidden: true }));
  const modelSlot = h("div");
  const secondsSlot = h("div");
  const sizeSlot = h("div");
  const price = h("p", { class: "price-value", id: "studio-price" });
  const balance = h("p", { class: "balance", id: "studio-balance" });
  const after = h("p", { class: "muted small" });
  const warning = h("div", { class: "alert warning", hidden: true });
  const submit = h("button", { type: "submit", class: "btn primary large block", id: "generate" });

  function renderChoices() {
    const model = modelOf(state.model);
    replace(modelSlot, radioGroup({
      legend: "Model", name: "model", selected: state.model, className: "choice-cards",
      options: models.map((m) => {
        const lowest = Math.min(...Object.values(m.credits_per_second));
        return {
          value: m.id,
          content: [h("strong", null, m.name || m.id),
            h("span", { class: "muted small" }, `from ${number(lowest)} credits / second`)],
        };
      }),
    }));
    replace(secondsSlot, radioGroup({
      legend: "Length", name: "seconds", selected: state.seconds, className: "segmented",
      options: model.seconds.map((s) => ({ value: s, content: `${s} seconds` })),
    }));
    replace(sizeSlot, radioGroup({
      legend: "Size", name: "size", selected: state.size, className: "choice-cards sizes",
      options: model.sizes.map((size) => {
        const info = sizeInfo(size);
        return {
          value: size,
          content: [h("span", { class: ["shape", info.shape], "aria-hidden": "true" }),
            h("strong", null, info.label), h("span", { class: "muted small" }, info.detail)],
        };
      }),
    }));
    audioField.hidden = !model.audio;
    audio.checked = state.audio;
    const extra = model.audio_credits_per_second?.[state.size] || 0;
    audioHint.textContent = extra ? `Adds ${credits(extra)} a second.` : "At no extra cost.";
    negativeField.hidden = !model.negative_prompt;
    start.element.hidden = !model.start_image;
    end.element.hidden = !model.end_image;
  }

  let balanceNow = profile.credits;
  function renderPrice() {
    const cost = perSecond() * Number(state.seconds);
    price.textContent = credits(cost);
    balance.textContent = `You have ${credits(balanceNow)}`;
    const left = balanceNow - cost;
    after.textContent = left >= 0 ? `${credits(left)} left after this video` : "";
    replace(submit, icon("spark"), ` Generate video · ${credits(cost)}`);
    if (left < 0) {
      replace(warning, icon("alert"), h("span", null,
        `This video costs ${credits(cost)} and you have ${credits(balanceNow)}. Choose a shorter length or a smaller size, or `,
        h("a", { href: "#/billing" }, "buy credits"), "."));
      warning.hidden = false;
    } else {
      warning.hidden = true;
    }
  }

  const start = referencePicker();
  const end = referencePicker(END);
  renderChoices();
  renderPrice();

  const form = h("form", { novalidate: true, class: "studio-form card", "aria-label": "New video" },
    formAlert(),
    h("div", { class: "field" },
      h("label", { for: promptId }, "Prompt"), prompt, counter,
      h("p", { class: "field-error", id: `${promptId}-error`, hidden: true })),
    ideas, modelSlot, secondsSlot, sizeSlot, audioField, negativeField, start.element, end.element);
  form.addEventListener("change", (event) => {
    const { name, value } = event.target;
    if (name === "model") {
      state.model = value;
      fixState();
      renderChoices();
    } else if (name === "seconds") {
      state.seconds = Number(value);
    } else if (name === "size") {
      state.size = value;
      renderChoices();
    } else if (name === "audio") {
      state.audio = event.target.checked;
    }
    renderPrice();
  });

  const summary = h("aside", { class: "card studio-summary", "aria-labelledby": "summary-title" },
    h("h2", { id: "summary-title", class: "small-title" }, "Price"),
    h("div", { "aria-live": "polite", "aria-atomic": "true" }, price, after),
    balance,
    warning,
    submit,
    h("p", { class: "muted small" },
      "Videos are kept for ", h("strong", null, `${profile.retention_days} days`),
      " on your plan. A refused or failed video is refunded."));
  submit.setAttribute("form", form.id = nextId("studio-form"));

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearErrors(form);
    if (!prompt.value.trim()) {
      showError(form, { field: "prompt", message: "Describe the video you want first." });
      return;
    }
    const problem = start.validate() || end.validate();
    if (problem) {
      showError(form, problem);
      return;
    }
    await busy(submit, "Starting…", async () => {
      try {
        const model = modelOf(state.model);
        const body = { prompt: prompt.value.trim(), model: state.model, seconds: Number(state.seconds), size: state.size };
        if (model.audio) body.audio = state.audio;
        if (model.negative_prompt && negative.value.trim()) body.negative_prompt = negative.value.trim();
        const video = await submitVideo(body, [start, end], (text) => {
          submit.textContent = text;
        });
        loadProfile(true).catch(() => {});
        toast(`Your video is rendering (${credits(video.cost)}). Follow it here.`, "success");
        navigate(`/videos?new=${encodeURIComponent(video.id)}`);
      } catch (error) {
        const extra = error.code === "insufficient_credits" ? h("a", { href: "#/billing" }, "Buy credits")
          : error.code === "email_unverified" ? resendLinkButton("Send the confirmation link again", "btn ghost small")
            : null;
        showError(form, error, extra);
        if (error.code === "insufficient_credits") {
          loadProfile(true).then((p) => {
            balanceNow = p.credits;
            renderPrice();
          }).catch(() => {});
        }
      }
    });
    renderPrice();
  });

  const verify = profile.email_verified ? null : h("div", { class: "alert info has-button", id: "verify-first" }, icon("mail"),
    h("span", null, `Confirm your email to make videos`,
      profile.signup_credits_pending ? ` and get your ${credits(profile.signup_credits)} free` : "",
      `: open the link we sent to ${profile.email}. `),
    resendLinkButton("Send the link again", "btn ghost small"));

  container.append(
    pageHead("Studio", "Describe a scene; we render it as a video."),
    verify,
    h("div", { class: "studio-grid" }, form, summary));
}
