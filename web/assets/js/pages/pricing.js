// Pricing (for everyone) and billing (signed in): plans with their storage periods, credit
// packs, what a video costs, and checkout through POST /billing/checkout.

import { api } from "../api.js";
import { h, icon, nextId, replace } from "../dom.js";
import { credits, dateTime, ledgerKind, modelName, money, number, sizeInfo } from "../format.js";
import { session } from "../session.js";
import { getCatalogue, loadProfile } from "../store.js";
import { busy, pageHead, spinner, errorState } from "../ui.js";

function planCard(plan, action, current) {
  const free = plan.price_cents === 0;
  return h("li", { class: ["card", "plan-card", current && "current", plan.id === "standard" && "featured"] },
    plan.id === "standard" ? h("span", { class: "badge" }, "Most popular") : null,
    h("h3", null, plan.name),
    h("p", { class: "price" },
      free ? "Free" : money(plan.price_cents, plan.currency),
      free ? null : h("span", { class: "per" }, " / month")),
    h("ul", { class: "features" },
      h("li", { class: "retention" }, icon("clock"),
        h("span", null, "Videos stored for ", h("strong", null, `${plan.retention_days} days`))),
      h("li", null, icon("coin"),
        h("span", null, plan.monthly_credits ? `${number(plan.monthly_credits)} credits every month`
          : "Welcome credits on signup")),
      h("li", null, icon("download"), h("span", null, "Download your videos as MP4"))),
    action);
}

/** A pack, with how many of the shortest default videos (what the signup grant makes) it buys. */
function packCard(pack, action, shortVideo) {
  return h("li", { class: "card pack-card" },
    h("h3", null, credits(pack.credits)),
    h("p", { class: "price" }, money(pack.price_cents, pack.currency)),
    h("p", { class: "muted" }, `About ${number(Math.floor(pack.credits / shortVideo))} short videos, added to your balance once paid.`),
    action);
}

function costTable(models) {
  const rows = [];
  for (const model of models) {
    for (const size of model.sizes) {
      const perSecond = model.credits_per_second[size];
      const info = sizeInfo(size);
      const withSound = model.audio ? number(perSecond + (model.audio_credits_per_second[size] || 0)) : "—";
      rows.push(h("tr", null,
        h("th", { scope: "row" }, model.name || modelName(model.id)),
        h("td", null, `${info.label} ${info.detail}`),
        h("td", null, number(perSecond)),
        h("td", null, withSound),
        h("td", null, model.seconds.map((s) => `${s} s: ${number(perSecond * s)}`).join(" · "))));
    }
  }
  return h("div", { class: "table-wrap" },
    h("table", { class: "data-table" },
      h("caption", { class: "visually-hidden" }, "Credits per video by model, size and length"),
      h("thead", null, h("tr", null,
        h("th", { scope: "col" }, "Model"), h("th", { scope: "col" }, "Size"),
        h("th", { scope: "col" }, "Per second"), h("th", { scope: "col" }, "Per second with sound"),
        h("th", { scope: "col" }, "Lengths (silent)"))),
      h("tbody", null, rows)));
}

export async function renderPricing(container) {
  const catalogue = await getCatalogue();
  const cta = (label) => h("a", { class: "btn secondary block", href: session.signedIn ? "#/billing" : "#/signup" }, label);
  container.append(
    pageHead("Simple, honest pricing",
      `Every account starts with ${credits(catalogue.signup_credits)} free. Pay for what you make; `
      + "a plan decides how long we keep your videos."),
    h("section", { "aria-labelledby": "plans-title", class: "section" },
      h("h2", { id: "plans-title" }, "Plans"),
      h("ul", { class: "plan-grid" },
        catalogue.plans.map((plan) => planCard(plan,
          cta(plan.price_cents === 0 ? (session.signedIn ? "Your starting plan" : "Start free") : `Choose ${plan.name}`))))),
    h("section", { "aria-labelledby": "packs-title", class: "section" },
      h("h2", { id: "packs-title" }, "Credit packs"),
      h("p", { class: "muted" }, "Top up any time, on any plan."),
      h("ul", { class: "pack-grid" }, catalogue.credit_packs.map((pack) => packCard(pack, cta("Buy credits"), catalogue.signup_credits)))),
    h("section", { "aria-labelledby": "costs-title", class: "section" },
      h("h2", { id: "costs-title" }, "What a video costs"),
      h("p", { class: "muted" }, "The price is shown in the studio before you start; a refused or failed video is refunded."),
      costTable(catalogue.models)));
}

// The checkout a person left for, kept in this tab (sessionStorage) so that the page they come
// back to can say what arrived: "Payment received: 100 credits added".
const PENDING_CHECKOUT = "aisora.pending_checkout";
const PENDING_MAX_AGE_MS = 2 * 60 * 60 * 1000;
// After the provider sends the person back, its webhook may land a moment later: look again
// after these delays (about half a minute in all), then stop.
const CONFIRM_DELAYS_MS = [1000, 2000, 3000, 5000, 8000, 12000];

function rememberCheckout(productId, profile) {
  try {
    sessionStorage.setItem(PENDING_CHECKOUT, JSON.stringify({
      product_id: productId, credits: profile.credits, plan: profile.plan, at: Date.now(),
    }));
  } catch {
    // storage disabled: the return page falls back to a general thank-you
  }
}

function takePendingCheckout() {
  try {
    const raw = sessionStorage.getItem(PENDING_CHECKOUT);
    sessionStorage.removeItem(PENDING_CHECKOUT);
    const pending = raw ? JSON.parse(raw) : null;
    if (!pending || typeof pending.product_id !== "string" || !Number.isFinite(pending.credits)) return null;
    if (!(Date.now() - pending.at < PENDING_MAX_AGE_MS)) return null;
    return pending;
  } catch {
    return null;
  }
}

/** The pack or plan a checkout was for, from the catalogue. */
function productOf(catalogue, productId) {
  const pack = catalogue.credit_packs.find((p) => p.id === productId);
  if (pack) return { id: pack.id, plan: false, credits: pack.credits };
  const plan = catalogue.plans.find((p) => p.id === productId && p.price_cents > 0);
  if (plan) {
    return { id: plan.id, plan: true, name: plan.name, credits: plan.monthly_credits, retentionDays: plan.retention_days };
  }
  return null;
}

/** Whether the profile shows what the checkout paid for. */
function arrived(pending, product, profile) {
  if (!profile) return false;
  if (product.plan) return profile.plan === product.id && profile.credits > pending.credits;
  return profile.credits > pending.credits;
}

function receivedText(product) {
  if (product.plan) {
    return `Payment received: you are on the ${product.name} plan now. ${credits(product.credits)} added, `
      + `and your videos are kept for ${product.retentionDays} days.`;
  }
  return `Payment received: ${credits(product.credits)} added.`;
}

const THANKS = "Thank you! Your payment went through. New credits and plan changes appear here as soon "
  + "as the payment provider confirms them, usually within a minute; if they do not, please contact support.";

function outcomeBox(kind, text, working = false) {
  return [
    working ? h("span", { class: "spinner", "aria-hidden": "true" }) : icon(kind === "success" ? "check" : "alert"),
    h("span", null, text),
  ];
}

export async function renderBilling(container, { params }) {
  const [catalogue, firstProfile] = await Promise.all([getCatalogue(), loadProfile(true)]);
  const outcome = params.get("checkout");
  const pending = outcome ? takePendingCheckout() : null;
  const bought = pending ? productOf(catalogue, pending.product_id) : null;
  if (outcome) {
    // The notice is shown once: reloading the page does not announce the payment again.
    history.replaceState(history.state, "", "#/billing");
  }
  const alert = h("div", { class: "alert error", role: "alert", hidden: true, tabindex: "-1" });
  const notice = h("div", { class: "alert", role: "status", id: "checkout-outcome", hidden: true });
  const summary = h("div", { class: "summary-grid" });
  const planList = h("ul", { class: "plan-grid" });
  const ledgerBox = h("div", null, spinner("Loading your credit history"));
  let profile = firstProfile;
  let stopped = false;
  let timer = null;

  function say(kind, text, working = false) {
    notice.className = `alert ${kind}`;
    notice.dataset.outcome = kind;
    replace(notice, outcomeBox(kind, text, working));
    notice.hidden = false;
  }

  const providerName = nextId("provider");
  const providers = [
    { id: "stripe", label: "Card (Stripe)" },
    { id: "creem", label: "Creem" },
  ];
  const providerGroup = h("fieldset", { class: "segmented" },
    h("legend", null, "Pay with"),
    providers.map((p, i) => {
      const id = `${providerName}-${p.id}`;
      return h("span", { class: "segment" },
        h("input", { type: "radio", name: providerName, id, value: p.id, checked: i === 0 }),
        h("label", { for: id }, p.label));
    }));
  const provider = () => providerGroup.querySelector("input:checked")?.value || "stripe";

  async function checkout(productId, button) {
    alert.hidden = true;
    await busy(button, "Opening checkout…", async () => {
      try {
        const answer = await api("POST", "/billing/checkout", { product_id: productId, provider: provider() });
        const url = answer && typeof answer.checkout_url === "string" ? new URL(answer.checkout_url) : null;
        if (!url || !["https:", "http:"].includes(url.protocol)) throw new Error("no checkout address");
        rememberCheckout(productId, profile);
        window.location.assign(url.href);
      } catch (error) {
        showFailure(error);
      }
    });
  }

  /** A checkout that cannot open: the API's reason when it gave one, else "not available yet". */
  function showFailure(error, what = "Payments are") {
    const unavailable = !error.status || [403, 404, 405, 501, 503].includes(error.status);
    replace(alert, icon("alert"), h("span", null,
      unavailable ? `${what} not available yet. Nothing was charged; please try again later.` : error.message));
    alert.hidden = false;
    alert.focus();
  }

  async function manage(button) {
    alert.hidden = true;
    await busy(button, "Opening…", async () => {
      try {
        const answer = await api("POST", "/billing/portal", {});
        const url = answer && typeof answer.url === "string" ? new URL(answer.url) : null;
        if (!url || !["https:", "http:"].includes(url.protocol)) throw new Error("no portal address");
        window.location.assign(url.href);
      } catch (error) {
        showFailure(error, "Subscription management is");
      }
    });
  }

  const buy = (label, productId, disabled = false) => h("button", {
    type: "button", class: "btn primary block", disabled,
    onclick: (event) => checkout(productId, event.currentTarget),
  }, label);

  /** The balance, the plan and the plan cards, as the profile has them now. */
  function show() {
    const currentPlan = catalogue.plans.find((p) => p.id === profile.plan);
    replace(summary,
      h("div", { class: "card stat" }, h("p", { class: "stat-label" }, "Credits left"),
        h("p", { class: "stat-value", id: "billing-credits" }, number(profile.credits))),
      h("div", { class: "card stat" }, h("p", { class: "stat-label" }, "Your plan"),
        h("p", { class: "stat-value", id: "billing-plan" }, currentPlan?.name || profile.plan),
        h("p", { class: "muted", id: "billing-retention" }, `Videos stored for ${profile.retention_days} days`),
        profile.plan !== "free" ? h("button", {
          type: "button", class: "btn ghost small stat-action", onclick: (e) => manage(e.currentTarget),
        }, "Manage or cancel") : null));
    replace(planList, catalogue.plans.map((plan) => {
      const current = plan.id === profile.plan;
      let action;
      if (current) action = h("p", { class: "current-label" }, icon("check"), " Your current plan");
      else if (plan.price_cents === 0) action = h("p", { class: "muted small" }, "Cancel a paid plan to return to Free.");
      else action = buy(`Subscribe to ${plan.name}`, plan.id);
      return planCard(plan, action, current);
    }));
  }

  const loadHistory = async () => {
    replace(ledgerBox, spinner("Loading your credit history"));
    try {
      const ledger = await api("GET", "/me/credits");
      if (!ledger.transactions.length) {
        replace(ledgerBox, h("p", { class: "muted" }, "No credit movements yet."));
        return;
      }
      replace(ledgerBox, h("div", { class: "table-wrap" }, h("table", { class: "data-table" },
        h("caption", { class: "visually-hidden" }, "Credit transactions, newest first"),
        h("thead", null, h("tr", null, ["When", "What", "Credits", "Balance"].map((t) => h("th", { scope: "col" }, t)))),
        h("tbody", null, ledger.transactions.map((t) => h("tr", null,
          h("td", null, dateTime(t.created_at)),
          h("td", null, ledgerKind(t.kind)),
          h("td", { class: t.amount < 0 ? "negative" : "positive" }, `${t.amount > 0 ? "+" : ""}${number(t.amount)}`),
          h("td", null, number(t.balance_after))))))));
    } catch (error) {
      replace(ledgerBox, errorState(error, loadHistory));
    }
  };

  /** Back from the provider: look at the profile until the payment shows, a bounded number of times. */
  function confirm(attempt = 0) {
    if (stopped) return;
    if (bought && arrived(pending, bought, profile)) {
      say("success", receivedText(bought));
      return;
    }
    if (attempt >= CONFIRM_DELAYS_MS.length) {
      if (bought) say("info", THANKS);
      return;
    }
    timer = setTimeout(() => {
      loadProfile(true).then((fresh) => {
        if (stopped || !fresh) return;
        const changed = fresh.credits !== profile.credits || fresh.plan !== profile.plan;
        profile = fresh;
        if (changed) {
          show();
          loadHistory();
        }
      }).catch(() => {}).finally(() => confirm(attempt + 1));
    }, CONFIRM_DELAYS_MS[attempt]);
  }

  show();
  if (outcome === "success") {
    if (!bought) {
      // Not started from this tab: what was bought is unknown; the page still catches up.
      say("info", THANKS);
      confirm();
    } else if (arrived(pending, bought, profile)) {
      say("success", receivedText(bought));
    } else {
      say("info", "Thank you! Waiting for the payment provider to confirm your payment…", true);
      confirm();
    }
  } else if (outcome === "cancelled") {
    say("info", "Checkout was cancelled. Nothing was charged.");
  }

  container.append(
    pageHead("Billing", "Buy credits or choose a plan that keeps your videos longer."),
    summary,
    notice,
    alert,
    providerGroup,
    h("section", { "aria-labelledby": "plans-title", class: "section" },
      h("h2", { id: "plans-title" }, "Plans"), planList),
    h("section", { "aria-labelledby": "packs-title", class: "section" },
      h("h2", { id: "packs-title" }, "Credit packs"),
      h("ul", { class: "pack-grid" }, catalogue.credit_packs.map((pack) => packCard(pack, buy(`Buy ${pack.name}`, pack.id), catalogue.signup_credits)))),
    h("section", { "aria-labelledby": "history-title", class: "section" },
      h("h2", { id: "history-title" }, "Credit history"), ledgerBox));
  loadHistory();
  return () => {
    stopped = true;
    clearTimeout(timer);
  };
}
