// My videos: every video with its status; a live progress bar while one renders (polling);
// play in the page, download, delete, and the days left before the plan's storage period ends.

import { api } from "../api.js";
import { h, icon, replace } from "../dom.js";
import { credits, date, dateTime, expiryText, modelName, sizeInfo } from "../format.js";
import { getCatalogue, loadProfile } from "../store.js";
import { busy, errorState, pageHead, spinner, toast } from "../ui.js";

const PAGE_SIZE = 12;
const POLL_MS = 600;
const OPEN = new Set(["queued", "in_progress"]);

export async function render(container, { params }) {
  await getCatalogue().catch(() => {}); // the models' display names; their ids stand in without
  const cards = new Map(); // id -> card controller
  const list = h("ul", { class: "video-grid", "aria-label": "Your videos" });
  const more = h("button", { type: "button", class: "btn ghost", hidden: true }, "Show older videos");
  const empty = h("div", { class: "empty card", hidden: true },
    icon("film", "big"), h("h2", null, "No videos yet"),
    h("p", { class: "muted" }, "Your first one is a sentence away."),
    h("a", { class: "btn primary", href: "#/studio" }, icon("spark"), " Make a video"));
  const status = h("div", { class: "list-status" });
  let cursor = null;
  let timer = null;
  let stopped = false;
  const highlight = params.get("new");

  container.append(
    pageHead("My videos", "Watch, download or delete what you made. Videos are kept for your plan's storage period.",
      h("a", { class: "btn primary", href: "#/studio" }, icon("spark"), " New video")),
    status, list, empty, h("div", { class: "center" }, more));

  function syncEmpty() {
    empty.hidden = cards.size > 0;
  }

  function addVideos(videos, atEnd = true) {
    for (const view of videos) {
      if (cards.has(view.id)) continue;
      const card = videoCard(view, {
        onDeleted: (id) => {
          cards.delete(id);
          syncEmpty();
          container.querySelector("h1")?.focus();
        },
      });
      cards.set(view.id, card);
      if (atEnd) list.append(card.el);
      else list.prepend(card.el);
      if (view.id === highlight) card.el.classList.add("highlight");
    }
    syncEmpty();
  }

  async function loadPage() {
    const query = new URLSearchParams({ limit: String(PAGE_SIZE) });
    if (cursor) query.set("cursor", cursor);
    const page = await api("GET", `/videos?${query}`);
    addVideos(page.videos);
    cursor = page.next_cursor;
    more.hidden = !cursor;
  }

  async function poll() {
    timer = null;
    if (stopped) return;
    const open = [...cards.values()].filter((card) => OPEN.has(card.view.status));
    await Promise.all(open.map(async (card) => {
      try {
        const view = await api("GET", `/videos/${encodeURIComponent(card.view.id)}`);
        const before = card.view.status;
        card.update(view);
        if (before !== view.status && view.status === "completed") {
          toast("Your video is ready to watch.", "success");
        } else if (before !== view.status && view.status === "failed") {
          toast("A video could not be made; its credits were refunded.", "error");
          loadProfile(true).catch(() => {});
        }
      } catch (error) {
        if (error.status === 404) {
          card.el.remove();
          cards.delete(card.view.id);
          syncEmpty();
        }
      }
    }));
    schedule();
  }

  function schedule() {
    if (stopped || timer) return;
    if ([...cards.values()].some((card) => OPEN.has(card.view.status))) {
      timer = setTimeout(poll, POLL_MS);
    }
  }

  more.addEventListener("click", () => busy(more, "Loading…", async () => {
    try {
      await loadPage();
      schedule();
    } catch (error) {
      toast(error.message, "error");
    }
  }));

  status.append(spinner("Loading your videos"));
  try {
    await loadPage();
    replace(status);
  } catch (error) {
    replace(status, errorState(error, () => location.reload()));
  }
  schedule();
  return () => {
    stopped = true;
    if (timer) clearTimeout(timer);
  };
}

function statusText(view) {
  switch (view.status) {
    case "queued":
      return "Waiting to start";
    case "in_progress":
      return `Rendering · ${view.progress}%`;
    case "completed":
      return "Ready";
    case "failed":
      return "Could not be made";
    case "expired":
      return "Expired";
    default:
      return view.status;
  }
}

function videoCard(initial, { onDeleted }) {
  let view = initial;
  let playUrl = null; // {url, until}
  let playing = false;
  const info = sizeInfo(initial.size);
  const media = h("div", { class: ["video-media", info.portrait ? "portrait" : "landscape"] });
  const statusLine = h("p", { class: "video-status" });
  const progress = h("progress", { max: "100", class: "render-progress", "aria-label": "Rendering progress" });
  const progressWrap = h("div", { class: "progress-wrap" }, progress);
  const expiry = h("span", { class: "expiry" });
  const actions = h("div", { class: "video-actions" });
  const fallback = h("p", { class: "download-fallback small", hidden: true });
  const el = h("li", { class: "card video-card", dataset: { videoId: view.id, status: view.status } },
    media,
    h("div", { class: "video-body" },
      h("p", { class: "video-prompt" }, view.prompt),
      h("p", { class: "video-meta muted small" },
        `${modelName(view.model)} · ${view.seconds} s · ${info.label} · ${credits(view.cost)}`),
      h("div", { class: "video-state" }, statusLine, expiry),
      progressWrap,
      actions,
      fallback));

  async function downloadUrl() {
    if (playUrl && playUrl.until > Date.now() + 5000) return playUrl.url;
    const answer = await api("GET", `/videos/${encodeURIComponent(view.id)}/download`);
    playUrl = { url: answer.url, until: Date.now() + answer.expires_in * 1000 };
    return answer.url;
  }

  async function play(button) {
    await busy(button, "Loading…", async () => {
      try {
        const url = await downloadUrl();
        const player = h("video", {
          controls: true, playsinline: true, preload: "metadata", src: url,
          poster: view.thumbnail_url || null, class: "player",
          "aria-label": `Video: ${view.prompt.slice(0, 80)}`,
        });
        playing = true;
        replace(media, player);
        player.play().catch(() => {
          // autoplay may be refused; the controls are there to start it
        });
        player.focus();
      } catch (error) {
        toast(error.message, "error");
      }
    });
  }

  async function download(button) {
    await busy(button, "Preparing…", async () => {
      try {
        const url = await downloadUrl();
        // The address is on the storage host and answers with Content-Disposition: attachment,
        // so following it downloads the file and leaves this page where it is.
        const link = h("a", { href: url, download: `${view.id}.mp4`, rel: "noopener" }, "download link");
        replace(fallback, "Download did not start? Use this ", link, " (valid for a few minutes).");
        fallback.hidden = false;
        link.click();
      } catch (error) {
        toast(error.message, "error");
      }
    });
  }

  function confirmDelete() {
    const yes = h("button", { type: "button", class: "btn danger small" }, "Delete");
    const no = h("button", { type: "button", class: "btn ghost small" }, "Keep it");
    replace(actions, h("span", { class: "confirm-text", role: "alert" }, "Delete this video for good?"), yes, no);
    no.addEventListener("click", () => {
      renderActions();
      actions.querySelector("[data-action=delete]")?.focus();
    });
    yes.addEventListener("click", () => busy(yes, "Deleting…", async () => {
      try {
        await api("DELETE", `/videos/${encodeURIComponent(view.id)}`);
        el.remove();
        toast("The video was deleted.");
        onDeleted(view.id);
      } catch (error) {
        toast(error.message, "error");
        renderActions();
      }
    }));
    no.focus();
  }

  function renderActions() {
    const buttons = [];
    if (view.status === "completed") {
      buttons.push(h("button", {
        type: "button", class: "btn primary small", dataset: { action: "play" },
        onclick: (e) => play(e.currentTarget),
      }, icon("play"), " Play"));
      buttons.push(h("button", {
        type: "button", class: "btn secondary small", dataset: { action: "download" },
        onclick: (e) => download(e.currentTarget),
      }, icon("download"), " Download"));
    }
    if (!OPEN.has(view.status)) {
      buttons.push(h("button", {
        type: "button", class: "btn ghost small icon-only", dataset: { action: "delete" },
        "aria-label": "Delete video", title: "Delete video", onclick: confirmDelete,
      }, icon("trash")));
    }
    replace(actions, buttons);
  }

  function renderMedia() {
    if (playing) return;
    if (view.status === "completed") {
      const thumb = view.thumbnail_url
        ? h("img", { src: view.thumbnail_url, alt: "", loading: "lazy", class: "thumb" })
        : h("div", { class: "thumb placeholder" });
      replace(media, thumb, h("button", {
        type: "button", class: "play-overlay", "aria-label": "Play video",
        onclick: () => play(actions.querySelector("[data-action=play]")),
      }, icon("play")));
    } else if (OPEN.has(view.status)) {
      replace(media, h("div", { class: "rendering-visual" }, h("span", { class: "pulse" }), icon("film")));
    } else if (view.status === "failed") {
      replace(media, h("div", { class: "media-note failed" }, icon("alert"),
        h("p", null, view.error?.message || "This video could not be made."),
        h("p", { class: "small" }, "Its credits were refunded.")));
    } else {
      replace(media, h("div", { class: "media-note" }, icon("clock"),
        h("p", null, "The storage period ended and the file was deleted.")));
    }
  }

  function update(next) {
    const statusChanged = next.status !== view.status;
    view = next;
    el.dataset.status = view.status;
    statusLine.textContent = statusText(view);
    statusLine.className = `video-status status-${view.status}`;
    const open = OPEN.has(view.status);
    progressWrap.hidden = !open;
    if (view.status === "queued") progress.removeAttribute("value"); // indeterminate
    else progress.value = view.progress;
    progress.setAttribute("aria-valuetext", statusText(view));
    if (view.status === "completed" && view.expires_at) {
      expiry.textContent = expiryText(view.expires_at);
      expiry.title = `Kept until ${dateTime(view.expires_at)}`;
      expiry.hidden = false;
    } else if (open) {
      expiry.textContent = `Started ${date(view.created_at)}`;
      expiry.hidden = false;
    } else {
      expiry.hidden = true;
    }
    if (statusChanged || !actions.hasChildNodes()) {
      renderMedia();
      renderActions();
    }
  }

  update(view);
  return {
    el,
    update,
    get view() {
      return view;
    },
  };
}
