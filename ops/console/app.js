// carrierbill operator console: plain JavaScript, no build step. Every
// figure comes from the operator API (/admin/...) with the admin token,
// which stays in this tab's sessionStorage.
"use strict";

const $ = (s) => document.querySelector(s);
const el = (tag, props, ...kids) => {
  const e = document.createElement(tag);
  Object.assign(e, props || {});
  for (const k of kids) e.append(k);
  return e;
};

function token() { return sessionStorage.getItem("cb-token") || ""; }

async function api(method, path, body) {
  const opt = { method, headers: { Authorization: "Bearer " + token() } };
  if (body !== undefined) {
    opt.headers["Content-Type"] = "application/json";
    opt.body = JSON.stringify(body);
  }
  const r = await fetch(path, opt);
  if (r.status === 401) { signOut("The token was refused."); throw new Error("unauthorized"); }
  const ct = r.headers.get("Content-Type") || "";
  const data = ct.includes("json") ? await r.json() : await r.text();
  if (!r.ok) throw new Error((data && (data.message || data.error)) || r.statusText);
  return data;
}

// Sign in / out.
function signOut(msg) {
  sessionStorage.removeItem("cb-token");
  $("#token").value = "";
  $("#tabs").hidden = true;
  document.querySelectorAll(".tab").forEach((s) => (s.hidden = true));
  $("#login").hidden = false;
  $("#login-error").textContent = msg || "";
}

$("#login-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  sessionStorage.setItem("cb-token", $("#token").value);
  try {
    await api("GET", "/admin/status");
    $("#token").value = "";
    $("#login-error").textContent = "";
    start();
  } catch (e) {
    if (e.message !== "unauthorized") signOut(e.message);
  }
});
$("#logout").addEventListener("click", () => signOut(""));

// Tabs.
function show(tab) {
  document.querySelectorAll(".tab").forEach((s) => (s.hidden = s.id !== tab));
  document.querySelectorAll("nav a").forEach((a) => a.classList.toggle("active", a.dataset.tab === tab));
  if (tab === "reports") loadReports();
  if (tab === "risk") loadRisk();
}
window.addEventListener("hashchange", () => token() && show(location.hash.slice(1) || "status"));

function start() {
  $("#login").hidden = true;
  $("#tabs").hidden = false;
  show(location.hash.slice(1) || "status");
  refreshStatus();
}

// Live status, every 2 s; rates from two snapshots of the counters.
let last = null;
let timer = null;
function age(ns) {
  const s = Math.round(ns / 1e9);
  return s > 0 ? "oldest " + s + " s" : "";
}
function rate(now, prev, key, dt) {
  if (!prev || dt <= 0) return "–";
  return (((now[key] || 0) - (prev[key] || 0)) / dt).toFixed(1);
}
async function refreshStatus() {
  clearTimeout(timer);
  if (!token()) return;
  try {
    const st = await api("GET", "/admin/status");
    const t = new Date(st.time);
    $("#status-time").textContent = "at " + t.toLocaleTimeString() + (st.log_level ? " · log level " + st.log_level : "");
    const c = st.counters || {};
    if (last) {
      const dt = (t - last.t) / 1000;
      $("#rate-mo").textContent = rate(c, last.c, "mo_received_stored", dt);
      $("#rate-pay").textContent = rate(c, last.c, "payments_charged", dt);
      $("#rate-mt").textContent = rate(c, last.c, "mt_sent", dt);
    }
    last = { t, c };
    const b = st.backlog || {};
    $("#backlog-mo").textContent = b.UnprocessedMOs ?? "–";
    $("#backlog-mo-age").textContent = age(b.OldestMOAge || 0);
    $("#backlog-mt").textContent = b.OutboxUnsent ?? "–";
    $("#backlog-mt-age").textContent = age(b.OldestOutboxAge || 0);
    $("#pending-charges").textContent = b.PendingCharges ?? "–";
    const body = $("#binds tbody");
    body.replaceChildren();
    for (const x of st.binds || []) {
      const suspended = x.State === "suspended";
      const act = el("button", { className: "secondary", textContent: suspended ? "Resume" : "Suspend", type: "button" });
      act.addEventListener("click", async () => {
        await api("POST", "/admin/binds/" + encodeURIComponent(x.Name) + (suspended ? "/resume" : "/suspend"));
        refreshStatus();
      });
      body.append(el("tr", {},
        el("td", { textContent: x.Name }), el("td", { textContent: x.Role }),
        el("td", { textContent: x.State, className: "state-" + x.State }),
        el("td", { className: "n", textContent: x.Binds }), el("td", { className: "n", textContent: x.Reconnects }),
        el("td", { className: "n", textContent: x.WindowUsed + "/" + x.WindowSize }),
        el("td", { className: "n", textContent: x.MOAcked }), el("td", {}, act)));
    }
    $("#totals").textContent = ["mo_received", "mo_processed", "payments_charged", "mt_sent", "delivery_receipts"]
      .map((k) => k.replace(/_/g, " ") + " " + (c[k] || 0)).join(" · ");
  } catch (e) {
    $("#status-time").textContent = "error: " + e.message;
  }
  timer = setTimeout(refreshStatus, 2000);
}

// Payment search, an order's detail, refunds.
let lastSearch = null;
$("#search-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  $("#order").hidden = true;
  await search($("#search-by").value, $("#search-q").value.trim(), true);
});

// search lists the orders found; open: show the only one in full.
async function search(by, q, open) {
  lastSearch = { by, q };
  $("#search-error").textContent = "";
  try {
    const res = await api("GET", "/admin/orders?" + new URLSearchParams({ [by]: q }));
    const body = $("#orders tbody");
    body.replaceChildren();
    for (const o of res.orders) {
      const tr = el("tr", { className: "click" },
        el("td", { textContent: o.order }), el("td", { textContent: o.txn || "" }), el("td", { textContent: o.number }),
        el("td", { textContent: o.merchant }), el("td", { textContent: o.product }), el("td", { className: "n", textContent: o.amount }),
        el("td", { textContent: o.status + (o.reason ? " (" + o.reason + ")" : "") }),
        el("td", { className: "n", textContent: o.refunded }), el("td", { textContent: o.created }));
      tr.addEventListener("click", () => openOrder(o.order));
      body.append(tr);
    }
    $("#orders").hidden = false;
    if (res.orders.length === 0) $("#search-error").textContent = "No order found.";
    if (open && res.orders.length === 1) openOrder(res.orders[0].order);
  } catch (e) {
    $("#search-error").textContent = e.message;
  }
}

let current = null;
async function openOrder(id) {
  const o = await api("GET", "/admin/orders/" + id);
  current = o;
  $("#o-id").textContent = o.order;
  const dl = $("#o-fields");
  dl.replaceChildren();
  const rows = [["Transaction", (o.txn || "—") + (o.charge_status ? " (" + o.charge_status + ")" : "")], ["Number", o.number],
    ["Merchant", o.merchant + (o.merchant_ref ? " · ref " + o.merchant_ref : "")], ["Product", o.product], ["Amount", o.amount + " yuan"],
    ["Status", o.status + (o.reason ? " (" + o.reason + ")" : "")], ["Refunded", o.refunded + " yuan"], ["Created", o.created],
    ["Channel", o.channel]];
  for (const [k, v] of rows) dl.append(el("dt", { textContent: k }), el("dd", { textContent: v }));
  const ul = $("#o-messages");
  ul.replaceChildren();
  for (const m of o.messages) {
    ul.append(el("li", { textContent: m.kind + ": " + (m.sent ? "sent " + m.sent : "not sent yet") + (m.delivery ? ", " + m.delivery : "") }));
  }
  $("#refund-form").hidden = !(o.status === "paid" || o.status === "refunded") || o.refunded === o.amount;
  $("#refund-result").textContent = "";
  $("#order").hidden = false;
}

$("#refund-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const out = $("#refund-result");
  try {
    const r = await api("POST", "/admin/refunds", { order: current.order, amount: $("#refund-amount").value.trim(), reason: $("#refund-reason").value.trim() });
    await openOrder(current.order);
    if (lastSearch) await search(lastSearch.by, lastSearch.q, false); // the list shows the refund too
    out.className = "ok";
    out.textContent = "Refunded " + r.amount + " yuan (refund " + r.refund + "): " + r.reason;
    $("#refund-form").hidden = false;
  } catch (e) {
    out.className = "error";
    out.textContent = e.message;
  }
});

// Risk: held payments (release, refuse), the day's decisions by rule, the
// active blocks (add, unblock), through the risk admin API (/admin/risk/).
const actions = ["allow", "fresh_code", "hold", "block"];
async function loadRisk() {
  $("#risk-error").textContent = "";
  try {
    const [h, d, l] = await Promise.all([api("GET", "/admin/risk/holds"), api("GET", "/admin/risk/decisions?since=24h&limit=5000"),
      api("GET", "/admin/risk/lists?list=block")]);
    $("#risk-time").textContent = "at " + new Date().toLocaleTimeString();
    const holds = $("#holds tbody");
    holds.replaceChildren();
    for (const x of h.holds) {
      const release = el("button", { type: "button", textContent: "Release", className: "release" });
      const refuse = el("button", { type: "button", textContent: "Refuse", className: "secondary refuse" });
      release.addEventListener("click", () => resolveHold(x.order, "release"));
      refuse.addEventListener("click", () => resolveHold(x.order, "refuse"));
      holds.append(el("tr", { id: "hold-" + x.order },
        el("td", { textContent: x.order }), el("td", { textContent: x.number }), el("td", { textContent: x.merchant }),
        el("td", { textContent: x.product }), el("td", { className: "n", textContent: x.amount }), el("td", { textContent: x.held }),
        el("td", { textContent: x.rule }), el("td", { textContent: x.evidence }), el("td", {}, release, " ", refuse)));
    }
    if (h.holds.length === 0) holds.append(el("tr", {}, el("td", { colSpan: 9, className: "muted", textContent: "No payment is waiting." })));
    const byRule = {};
    for (const x of d.decisions) {
      const r = (byRule[x.rule] = byRule[x.rule] || { latest: "" });
      r[x.action] = (r[x.action] || 0) + 1;
      if (x.at > r.latest) r.latest = x.at;
    }
    const rules = $("#risk-rules tbody");
    rules.replaceChildren();
    for (const name of Object.keys(byRule).sort()) {
      const r = byRule[name];
      rules.append(el("tr", {}, el("td", { textContent: name }),
        ...actions.map((a) => el("td", { className: "n", textContent: r[a] || 0 })), el("td", { textContent: r.latest })));
    }
    if (rules.children.length === 0) rules.append(el("tr", {}, el("td", { colSpan: 6, className: "muted", textContent: "No decisions." })));
    const blocks = $("#blocks tbody");
    blocks.replaceChildren();
    for (const e of l.entries) {
      const un = el("button", { type: "button", textContent: "Unblock", className: "secondary unblock" });
      un.addEventListener("click", async () => {
        try {
          await api("POST", "/admin/risk/unblock", { id: e.id });
        } catch (err) {
          $("#risk-error").textContent = err.message;
        }
        loadRisk();
      });
      blocks.append(el("tr", { id: "block-" + e.id }, el("td", { textContent: e.id }), el("td", { textContent: e.subject }),
        el("td", { textContent: e.value }), el("td", { textContent: e.until || "removed" }), el("td", { textContent: e.created_by }),
        el("td", { textContent: e.created_at }), el("td", { textContent: e.note || "" }), el("td", {}, un)));
    }
    if (l.entries.length === 0) blocks.append(el("tr", {}, el("td", { colSpan: 8, className: "muted", textContent: "Nothing is blocked." })));
  } catch (e) {
    $("#risk-error").textContent = e.message;
  }
}
async function resolveHold(order, how) {
  const out = $("#hold-result");
  try {
    const r = await api("POST", "/admin/risk/holds/" + how, { order, by: "console" });
    out.className = "ok";
    out.textContent = "Order " + r.order + ": " + r.outcome + (r.reason ? " (" + r.reason + ")" : "") + (r.status ? ", order " + r.status : "");
  } catch (e) {
    out.className = "error";
    out.textContent = e.message;
  }
  loadRisk();
}
$("#block-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  $("#risk-error").textContent = "";
  const body = { [$("#block-subject").value]: $("#block-value").value.trim(), by: "console" };
  const f = $("#block-for").value.trim();
  const note = $("#block-note").value.trim();
  if (f) body.for = f;
  if (note) body.note = note;
  try {
    await api("POST", "/admin/risk/block", body);
    $("#block-value").value = "";
    $("#block-note").value = "";
  } catch (e) {
    $("#risk-error").textContent = e.message;
  }
  loadRisk();
});

// Reports.
async function loadReports(select) {
  try {
    const res = await api("GET", "/admin/reports");
    const ul = $("#report-list");
    ul.replaceChildren();
    for (const f of res.reports.filter((f) => f.endsWith(".html"))) {
      const li = el("li", { textContent: f.replace(/^report-|\.html$/g, "") });
      li.dataset.file = f;
      li.addEventListener("click", () => viewReport(f));
      ul.append(li);
    }
    if (select) viewReport(select);
  } catch (e) {
    $("#report-error").textContent = e.message;
  }
}
async function viewReport(file) {
  const html = await api("GET", "/admin/reports/" + encodeURIComponent(file));
  const url = URL.createObjectURL(new Blob([html], { type: "text/html" }));
  $("#report-view").src = url;
  document.querySelectorAll("#report-list li").forEach((li) => li.classList.toggle("active", li.dataset.file === file));
}
$("#report-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  $("#report-error").textContent = "";
  try {
    const r = await api("POST", "/admin/reports", { period: $("#report-period").value.trim() });
    loadReports(r.html);
  } catch (e) {
    $("#report-error").textContent = e.message;
  }
});

// Phone simulator.
$("#phone-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const text = $("#phone-text").value;
  $("#phone-error").textContent = "";
  $("#thread").append(el("div", { className: "bubble mo", textContent: text }));
  try {
    const r = await api("POST", "/admin/phone", { number: $("#phone-number").value.trim(), to: $("#phone-to").value.trim(), text });
    for (const m of r.mts) {
      $("#thread").append(el("div", { className: "bubble mt" }, el("small", { textContent: m.from + " · " + m.at }), m.text));
    }
    if (r.mts.length === 0) $("#phone-error").textContent = "No answer yet.";
    $("#phone-text").value = "";
  } catch (e) {
    $("#phone-error").textContent = e.message;
  }
});

if (token()) start();
