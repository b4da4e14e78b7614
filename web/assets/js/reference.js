// The studio's optional reference image: a file uploaded straight to storage with the presigned
// POST the API hands out, or a web address the server fetches. The page checks what it can
// (type, size, the shape of an address) before anything is sent; the API checks the bytes.

import { api, ApiError } from "./api.js";
import { h, icon, nextId, replace } from "./dom.js";

export const MAX_BYTES = 10 * 1024 * 1024;
const TYPES = { "image/jpeg": "JPEG", "image/png": "PNG", "image/webp": "WebP" };
const EXTENSIONS = { jpg: "image/jpeg", jpeg: "image/jpeg", png: "image/png", webp: "image/webp" };
// After the upload the bucket's check takes a second or so; the video is asked for again until then.
const CHECK_EVERY_MS = 500;
const CHECK_FOR_MS = 15_000;
const START = {
  uploadField: "reference_upload_id", urlField: "reference_url", key: "reference",
  legend: "Start image", hint: "A picture to guide the look of the first frame.",
  labels: { file: "Upload an image", url: "From a web address", fileField: "Image file", urlField: "Image address" },
};
export const END = {
  uploadField: "end_reference_upload_id", urlField: "end_reference_url", key: "end-reference",
  legend: "End image", hint: "A picture for the last frame; the video moves from the start image to it.",
  labels: {
    file: "Upload an end image", url: "End image from a web address",
    fileField: "End image file", urlField: "End image address",
  },
};

function megabytes(bytes) {
  const mb = bytes / (1024 * 1024);
  return mb >= 10 ? `${Math.round(mb)} MB` : `${mb.toFixed(1)} MB`;
}

function fileSize(bytes) {
  return bytes < 1024 * 1024 ? `${Math.max(1, Math.round(bytes / 1024))} KB` : megabytes(bytes);
}

/** The image type a file says it is (its type, else its extension), or null. */
function declaredType(file) {
  if (TYPES[file.type]) return file.type;
  if (file.type) return null;
  const extension = (file.name.split(".").pop() || "").toLowerCase();
  return EXTENSIONS[extension] || null;
}

/** A reason the page can give before uploading, or null when the file may go. */
export function checkFile(file) {
  if (!declaredType(file)) {
    return `“${file.name}” is not a JPEG, PNG or WebP image. Choose a picture in one of those formats.`;
  }
  if (file.size === 0) return `“${file.name}” is empty. Choose another picture.`;
  if (file.size > MAX_BYTES) {
    return `“${file.name}” is ${megabytes(file.size)}; a reference image can be at most 10 MB. Choose a smaller one.`;
  }
  return null;
}

/** A reason the page can give for an address, or null when it looks like a web address. */
export function checkAddress(value) {
  if (!value) return "Enter the address of an image, starting with https://.";
  let url;
  try {
    url = new URL(value);
  } catch {
    return "Enter a full address, starting with https:// (for example https://example.com/cat.jpg).";
  }
  if (url.protocol !== "https:" && url.protocol !== "http:") {
    return "Only web addresses (https:// or http://) can be used.";
  }
  return null;
}

const STORAGE_REASONS = {
  EntityTooLarge: "The image is larger than the size the upload was prepared for. Choose it again and retry.",
  EntityTooSmall: "The file is empty. Choose another picture.",
  AccessDenied: "The upload link has expired. Please try again.",
};

/** Sends the file with the presigned POST; returns the upload id. Errors name the file field. */
async function upload(file, field) {
  let grant;
  try {
    grant = await api("POST", "/uploads", { content_type: declaredType(file), size: file.size });
  } catch (error) {
    // The API names content_type or size; both are about the file the person chose.
    if (error.field) error.field = field;
    throw error;
  }
  const form = new FormData();
  for (const [name, value] of Object.entries(grant.fields)) form.append(name, value);
  form.append("file", file); // last: storage ignores fields after the file
  let response;
  try {
    response = await fetch(grant.url, { method: "POST", body: form, credentials: "omit", cache: "no-store" });
  } catch {
    throw new ApiError({
      status: 0, code: "network", field: field,
      message: "The image could not be uploaded. Check your connection and try again.",
    });
  }
  if (!response.ok) {
    const text = await response.text().catch(() => "");
    const code = /<Code>([^<]+)<\/Code>/.exec(text)?.[1] || "";
    throw new ApiError({
      status: response.status, code: "upload_failed", field: field,
      message: STORAGE_REASONS[code] || "The image could not be uploaded. Please try again.",
    });
  }
  return grant.upload_id;
}

const sleep = (ms) => new Promise((resolve) => {
  setTimeout(resolve, ms);
});

/**
 * One image of the studio form (the start image, or with END the end image). Returns
 * { element, validate(), fields(say), done() }: validate() gives an ApiError-like {field, message}
 * for the page's own checks, or null; fields() uploads a chosen file and gives the fields that
 * name the image in POST /videos. A hidden picker gives none.
 */
export function referencePicker(which = START) {
  const { uploadField: UPLOAD_FIELD, urlField: URL_FIELD } = which;
  const group = nextId(which.key);
  const fileId = nextId(`${which.key}-file`);
  const urlId = nextId(`${which.key}-url`);
  const statusId = nextId(`${which.key}-status`);
  let mode = "none";
  let uploaded = null; // { file, uploadId }: one upload per chosen file, however often it is submitted

  const modes = [
    { value: "none", label: "None" },
    { value: "file", label: which.labels.file },
    { value: "url", label: which.labels.url },
  ];
  const choices = h("div", { class: "segmented", role: "radiogroup", "aria-label": `${which.legend} source` },
    modes.map((m) => h("span", { class: "choice" },
      h("input", { type: "radio", name: which.key, id: `${group}-${m.value}`, value: m.value, checked: m.value === "none" }),
      h("label", { for: `${group}-${m.value}` }, m.label))));

  const fileInput = h("input", {
    type: "file", id: fileId, name: UPLOAD_FIELD, accept: "image/jpeg,image/png,image/webp",
    "aria-describedby": `${fileId}-hint ${fileId}-error`,
  });
  const preview = h("div", { class: "reference-preview", hidden: true });
  const fileError = h("p", { class: "field-error", id: `${fileId}-error`, hidden: true });
  const filePanel = h("div", { class: "field reference-panel", hidden: true },
    h("label", { for: fileId }, which.labels.fileField),
    h("p", { class: "hint", id: `${fileId}-hint` }, "JPEG, PNG or WebP, up to 10 MB. Location and camera details are removed."),
    fileInput, preview, fileError);

  const urlInput = h("input", {
    type: "url", id: urlId, name: URL_FIELD, inputmode: "url", autocomplete: "off", spellcheck: "false",
    placeholder: "https://example.com/picture.jpg", "aria-describedby": `${urlId}-hint ${urlId}-error`,
  });
  const urlPanel = h("div", { class: "field reference-panel", hidden: true },
    h("label", { for: urlId }, which.labels.urlField),
    h("p", { class: "hint", id: `${urlId}-hint` }, "A public https:// address of a JPEG, PNG or WebP image. We fetch it once."),
    urlInput,
    h("p", { class: "field-error", id: `${urlId}-error`, hidden: true }));

  const status = h("p", { class: "reference-status", id: statusId, role: "status", "aria-live": "polite" });

  const element = h("fieldset", { class: "reference" },
    h("legend", null, `${which.legend} `, h("span", { class: "muted optional" }, "(optional)")),
    h("p", { class: "hint" }, which.hint),
    choices, filePanel, urlPanel, status);

  function showFileError(message) {
    if (message) {
      replace(fileError, icon("alert"), " ", message);
      fileError.hidden = false;
      fileError.setAttribute("role", "alert");
      fileInput.setAttribute("aria-invalid", "true");
    } else {
      replace(fileError);
      fileError.hidden = true;
      fileError.removeAttribute("role");
      fileInput.removeAttribute("aria-invalid");
    }
  }

  function showPreview(file) {
    replace(preview);
    preview.hidden = !file;
    if (!file) return;
    const thumb = h("img", { class: "reference-thumb", alt: "", width: "56", height: "56" });
    const reader = new FileReader();
    reader.addEventListener("load", () => {
      thumb.src = String(reader.result);
    });
    // A file this browser cannot draw (or not a picture at all): a plain tile, no broken image.
    thumb.addEventListener("error", () => thumb.replaceWith(h("span", { class: "reference-thumb", "aria-hidden": "true" })));
    reader.readAsDataURL(file);
    replace(preview, thumb,
      h("span", { class: "reference-name" }, h("strong", null, file.name), h("span", { class: "muted small" }, fileSize(file.size))),
      h("button", {
        type: "button", class: "btn ghost small", "aria-label": `Remove ${file.name}`,
        onclick: () => {
          fileInput.value = "";
          showPreview(null);
          showFileError(null);
          fileInput.focus();
        },
      }, "Remove"));
  }

  choices.addEventListener("change", (event) => {
    mode = event.target.value;
    filePanel.hidden = mode !== "file";
    urlPanel.hidden = mode !== "url";
    status.textContent = "";
  });
  fileInput.addEventListener("change", () => {
    const file = fileInput.files[0];
    const problem = file ? checkFile(file) : null;
    showFileError(problem);
    showPreview(file && !problem ? file : null);
  });

  function validate() {
    if (element.hidden) return null;
    if (mode === "file") {
      const file = fileInput.files[0];
      if (!file) return { field: UPLOAD_FIELD, message: "Choose an image file, or pick “None”." };
      const problem = checkFile(file);
      return problem ? { field: UPLOAD_FIELD, message: problem } : null;
    }
    if (mode === "url") {
      const problem = checkAddress(urlInput.value.trim());
      return problem ? { field: URL_FIELD, message: problem } : null;
    }
    return null;
  }

  /** The fields naming this image in POST /videos; say(text) tells the person what is happening. */
  async function fields(say) {
    const tell = (text) => {
      status.textContent = text;
      say(text);
    };
    if (element.hidden || mode === "none") return {};
    if (mode === "url") {
      tell("Fetching your image…");
      return { [URL_FIELD]: urlInput.value.trim() };
    }
    const file = fileInput.files[0];
    if (!uploaded || uploaded.file !== file) {
      tell("Uploading your image…");
      uploaded = { file, uploadId: await upload(file, UPLOAD_FIELD) };
    }
    return { [UPLOAD_FIELD]: uploaded.uploadId };
  }

  function checking(say) {
    if (element.hidden || mode !== "file") return;
    status.textContent = "Checking your image…";
    say(status.textContent);
  }

  function done() {
    status.textContent = "";
  }

  return { element, validate, fields, checking, done, uploadField: UPLOAD_FIELD };
}

/** POST /videos with the images of `pickers`, waiting while an uploaded one is still checked. */
export async function submitVideo(body, pickers, say) {
  try {
    let images = {};
    for (const picker of pickers) images = { ...images, ...(await picker.fields(say)) };
    const deadline = Date.now() + CHECK_FOR_MS;
    for (;;) {
      try {
        return await api("POST", "/videos", { ...body, ...images });
      } catch (error) {
        if (error.code !== "not_ready") throw error;
        if (Date.now() >= deadline) {
          throw new ApiError({
            status: 409, code: "not_ready", field: pickers.find((p) => images[p.uploadField])?.uploadField,
            message: "Your image is taking longer than usual to check. Please try again in a moment.",
          });
        }
        for (const picker of pickers) picker.checking(say);
        await sleep(CHECK_EVERY_MS);
      }
    }
  } finally {
    for (const picker of pickers) picker.done();
  }
}
