// The landing page: what AISora2 does, how it works, what it costs to start.

import { h, icon } from "../dom.js";
import { credits } from "../format.js";
import { session } from "../session.js";
import { getCatalogue } from "../store.js";

export async function render(container) {
  let grant = 40;
  try {
    grant = (await getCatalogue()).signup_credits ?? grant;
  } catch {
    // the page still reads well with the usual number
  }
  const start = session.signedIn
    ? h("a", { href: "#/studio", class: "btn primary large" }, icon("spark"), " Open the studio")
    : h("a", { href: "#/signup", class: "btn primary large" }, icon("spark"), ` Start free — ${credits(grant)}`);
  container.append(
    h("section", { class: "hero" },
      h("div", { class: "hero-copy" },
        h("p", { class: "eyebrow" }, "AI video generation"),
        h("h1", { tabindex: "-1", class: "page-title hero-title" },
          "Type a sentence.", h("br"), h("span", { class: "gradient-text" }, "Watch it move.")),
        h("p", { class: "lead" },
          `Describe a scene and AISora2 renders it as a video you can watch, download and keep. `
          + `New accounts get ${credits(grant)}: enough for a first 4-second clip.`),
        h("div", { class: "hero-actions" }, start,
          h("a", { href: "#/pricing", class: "btn ghost large" }, "See pricing"))),
      h("div", { class: "hero-visual", "aria-hidden": "true" },
        h("div", { class: "frame" },
          h("div", { class: "frame-sky" }),
          h("div", { class: "frame-sun" }),
          h("div", { class: "frame-hills" }),
          h("div", { class: "frame-play" }, icon("play")),
          h("div", { class: "frame-bar" }, h("span")),
        ),
        h("p", { class: "frame-caption" }, "“A paper boat drifting down a neon-lit canal at dusk”"))),
    h("section", { class: "steps", "aria-labelledby": "how-title" },
      h("h2", { id: "how-title" }, "How it works"),
      h("ol", { class: "step-list" },
        step("spark", "Describe it", "Write what you want to see: the subject, the light, the camera."),
        step("film", "Watch it render", "Follow the progress live; a short clip is ready in moments."),
        step("download", "Keep it", "Play it in the page and download the MP4 while your plan stores it."))),
    h("section", { class: "trust" },
      h("div", { class: "trust-item" }, icon("shield"),
        h("p", null, h("strong", null, "Your data, your rights. "),
          "Export everything or delete your account from the account page, at any time.")),
      h("div", { class: "trust-item" }, icon("lock"),
        h("p", null, h("strong", null, "No tracking by default. "),
          "Analytics stay off unless you allow them.")),
      h("div", { class: "trust-item" }, icon("clock"),
        h("p", null, h("strong", null, "Clear storage periods. "),
          "Free plans keep videos 7 days; paid plans 30, 60 or 90."))),
  );
}

function step(iconName, title, text) {
  return h("li", { class: "step card" },
    h("span", { class: "step-icon" }, icon(iconName)),
    h("h3", null, title),
    h("p", null, text));
}
