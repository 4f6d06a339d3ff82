// The officials' console (spec/10-api.md §10.5): plain DOM, no framework,
// no HTML strings (Trusted Types forbid them). Every action is a call of
// the officials' API under /api/v1 with the session's bearer token.

const API = "/api/v1";
const LANGS = ["ky", "ru", "uz", "en"];
const ACTIONS = ["qualified", "close-extraction", "context", "open", "close", "cleanse", "start-mixing", "start-decrypting", "tally"];

let dict = {};
let lang = localStorage.getItem("evote-console-lang") || "en";
let poll = null;

// t returns the translation of key in the current language.
export function t(key) {
  const v = dict[key];
  return v === undefined ? "⟨" + key + "⟩" : v;
}

function h(tag, attrs, ...kids) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
    else if (k === "text") e.textContent = v;
    else if (k === "dataset") Object.assign(e.dataset, v);
    else e.setAttribute(k, v === true ? "" : v);
  }
  for (const c of kids.flat()) {
    if (c === null || c === undefined || c === false) continue;
    e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return e;
}

const app = () => document.getElementById("app");

// setKids replaces an element's children, skipping null, undefined and
// false (optional parts of a screen).
function setKids(el, ...kids) {
  el.replaceChildren(...kids.flat().filter((k) => k !== null && k !== undefined && k !== false));
}

function session() {
  try { return JSON.parse(sessionStorage.getItem("evote-console-session") || "null"); } catch { return null; }
}

function setSession(s) {
  if (s) sessionStorage.setItem("evote-console-session", JSON.stringify(s));
  else sessionStorage.removeItem("evote-console-session");
}

// can mirrors official.Role.Allowed: the server decides, the console only
// hides what the role may not do.
function can(op) {
  const r = session()?.role;
  if (op === "manage") return r === "admin";
  if (op === "run") return r === "admin" || r === "election-official";
  return !!r;
}

class APIError extends Error {
  constructor(status, code, message) { super(message); this.status = status; this.code = code; }
}

async function call(method, path, body) {
  const headers = {};
  const s = session();
  if (s) headers.Authorization = "Bearer " + s.token;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const r = await fetch(API + path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body), cache: "no-store" });
  if (r.status === 204) return null;
  const j = await r.json().catch(() => ({}));
  if (!r.ok) {
    if (r.status === 401 && path !== "/officials/login") { setSession(null); }
    throw new APIError(r.status, j.error?.code || "error", j.error?.message || r.statusText);
  }
  return j;
}

// lastNotice draws the current notice again in a new language.
let lastNotice = null;

// notice shows a message: a string, or a function giving it in the
// current language (drawn again when the language changes).
function notice(msg, bad) {
  lastNotice = typeof msg === "function" ? [msg, bad] : null;
  const text = typeof msg === "function" ? msg() : msg;
  const n = document.getElementById("notice");
  n.textContent = text || "";
  n.hidden = !text;
  n.className = bad ? "bad" : "ok";
}

function errorText(e) {
  if (e instanceof APIError) {
    const k = "error." + e.code;
    return (dict[k] || t("error.generic")) + " (" + e.status + " " + e.code + "): " + e.message;
  }
  return t("error.generic") + ": " + e.message;
}

// ---- translations ----

async function loadLang(l) {
  const meta = JSON.parse(document.querySelector('meta[name="evote-i18n"]').content);
  if (!meta[l]) l = "en";
  const r = await fetch(meta[l].Path, { integrity: meta[l].Integrity });
  dict = await r.json();
  lang = l;
  localStorage.setItem("evote-console-lang", l);
  document.documentElement.lang = l;
  document.getElementById("lang").value = l;
  for (const e of document.querySelectorAll("[data-i18n]")) e.textContent = t(e.dataset.i18n);
  if (lastNotice) notice(...lastNotice);
  drawDialog();
  document.title = t("brand");
}

// ---- screens ----

function heading(key, ...more) { return h("h1", { text: t(key) }, ...more); }

function screenLogin() {
  const user = h("input", { id: "login-user", autocomplete: "username", required: true });
  const pw = h("input", { id: "login-password", type: "password", autocomplete: "current-password", required: true });
  const code = h("input", { id: "login-totp", inputmode: "numeric", autocomplete: "one-time-code", pattern: "[0-9]{6}", required: true });
  const go = async (ev) => {
    ev.preventDefault();
    try {
      const r = await call("POST", "/officials/login", { user: user.value, password: pw.value, totp: code.value, device: localStorage.getItem("evote-console-device") || undefined });
      if (r.device) localStorage.setItem("evote-console-device", r.device);
      setSession({ token: r.token, role: r.role, user: user.value, expires: r.expires_at });
      notice(() => (r.failed_logins > 0 ? t("login.failed-since").replace("{n}", r.failed_logins) : ""), r.failed_logins > 0);
      location.hash = "#/elections";
      route();
    } catch (e) { notice(() => errorText(e), true); }
  };
  return h("section", { class: "card narrow" }, heading("login.title"),
    h("form", { id: "login-form", onsubmit: go },
      h("label", {}, t("login.user"), user),
      h("label", {}, t("login.password"), pw),
      h("label", {}, t("login.totp"), code),
      h("button", { type: "submit", id: "login-submit", text: t("login.submit") })));
}

async function screenElections() {
  const list = await call("GET", "/elections");
  const rows = list.map((e) => h("tr", {},
    h("td", {}, h("a", { href: "#/e/" + e.election_id, text: e.election_id })),
    h("td", { text: t("phase." + e.phase) })));
  return h("section", { class: "card" }, heading("elections.title"),
    list.length ? h("table", { id: "elections" }, h("thead", {}, h("tr", {}, h("th", { text: t("elections.id") }), h("th", { text: t("elections.phase") }))), h("tbody", {}, rows))
      : h("p", { text: t("elections.none") }),
    can("run") ? h("p", {}, h("a", { href: "#/new", class: "button", text: t("nav.new") })) : null);
}

async function screenSessions() {
  const r = await call("GET", "/officials/sessions");
  const when = (s) => new Date(s * 1000).toLocaleString(lang);
  const rows = r.sessions.map((s) => h("tr", {},
    h("td", { text: s.user }), h("td", { text: when(s.created_at) }), h("td", { text: when(s.expires_at) }),
    h("td", {}, s.current ? t("sessions.current") : h("button", { type: "button", class: "revoke", dataset: { sid: s.id }, text: t("sessions.revoke"), onclick: async () => {
      try { await call("DELETE", "/officials/sessions/" + s.id); notice(() => t("sessions.revoked")); route(); } catch (e) { notice(() => errorText(e), true); }
    } }))));
  return h("section", { class: "card" }, heading("sessions.title"),
    h("table", { id: "sessions" }, h("thead", {}, h("tr", {}, ...["sessions.user", "sessions.created", "sessions.expires", "sessions.action"].map((k) => h("th", { text: t(k) })))), h("tbody", {}, rows)));
}

async function screenOperations() {
  const r = await call("GET", "/officials/operations?limit=500");
  const filter = h("input", { id: "ops-filter", type: "search", placeholder: t("ops.filter") });
  const body = h("tbody", {});
  const draw = () => {
    const q = filter.value.trim().toLowerCase();
    setKids(body, ...r.operations.filter((o) => !q || [o.user, o.action, o.election_id, o.outcome, o.detail].join(" ").toLowerCase().includes(q)).map((o) => h("tr", {},
      h("td", { text: new Date(o.at * 1000).toLocaleString(lang) }), h("td", { text: o.user }), h("td", { text: o.action }),
      h("td", { text: o.election_id || "" }), h("td", { class: o.outcome === "ok" ? "ok" : o.outcome === "requested" ? "" : "bad", text: o.outcome }), h("td", { text: o.detail || "" }))));
  };
  filter.addEventListener("input", draw);
  draw();
  return h("section", { class: "card" }, heading("ops.title"), h("label", {}, t("ops.filter"), filter),
    h("table", { id: "operations" }, h("thead", {}, h("tr", {}, ...["ops.at", "ops.user", "ops.action", "ops.election", "ops.outcome", "ops.detail"].map((k) => h("th", { text: t(k) })))), body));
}

// drawQR draws a QR module matrix on a canvas, 6 pixels a module.
function drawQR(m) {
  const px = 6;
  const c = h("canvas", { id: "enrol-qr", width: m.size * px, height: m.size * px, role: "img", "aria-label": t("accounts.qr") });
  const g = c.getContext("2d");
  g.fillStyle = "#fff";
  g.fillRect(0, 0, c.width, c.height);
  g.fillStyle = "#000";
  for (let y = 0; y < m.size; y++) for (let x = 0; x < m.size; x++) if (m.modules[y * m.size + x] === "1") g.fillRect(x * px, y * px, px, px);
  return c;
}

// enrolled is the account just created, kept while the accounts screen is
// shown (a change of language draws it again); leaving the screen forgets
// the key.
let enrolled = null;

function enrolment(e) {
  return [h("h2", { text: t("accounts.created").replace("{user}", e.user) }),
    h("p", { text: t("accounts.scan") }), drawQR(e.qr),
    h("p", {}, t("accounts.secret"), " ", h("code", { id: "enrol-secret", text: e.secret })),
    h("p", { class: "warn", text: t("accounts.once") })];
}

function screenAccounts() {
  const user = h("input", { id: "acc-user", required: true, autocomplete: "off" });
  const pw = h("input", { id: "acc-password", type: "password", required: true, autocomplete: "new-password", minlength: 12 });
  const role = h("select", { id: "acc-role" }, ...["election-official", "observer", "admin"].map((r) => h("option", { value: r, text: t("role." + r) })));
  const out = h("div", { id: "enrol-result" }, ...(enrolled ? enrolment(enrolled) : []));
  const go = async (ev) => {
    ev.preventDefault();
    try {
      const r = await call("POST", "/officials/accounts", { user: user.value, password: pw.value, role: role.value });
      const qr = await fetch("/console/qr", { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ data: r.totp_uri }), cache: "no-store" });
      if (!qr.ok) throw new Error(await qr.text());
      enrolled = { user: r.user, secret: r.totp_secret, qr: await qr.json() };
      setKids(out, ...enrolment(enrolled));
      pw.value = "";
    } catch (e) { notice(() => errorText(e), true); }
  };
  return h("section", { class: "card" }, heading("accounts.title"),
    h("form", { id: "account-form", onsubmit: go },
      h("label", {}, t("accounts.user"), user), h("label", {}, t("accounts.password"), pw), h("label", {}, t("accounts.role"), role),
      h("button", { type: "submit", id: "acc-submit", text: t("accounts.create") })), out);
}

// ---- the election form ----

// text4 is four inputs, one per language, bound to path.
function text4(path, labelKey, value) {
  return h("fieldset", { class: "text4" }, h("legend", { text: t(labelKey) }),
    ...LANGS.map((l) => h("label", { class: "lang-" + l }, h("span", { class: "tag", text: l }),
      h("input", { dataset: { path: path + "." + l }, value: value?.[l] || "" }))));
}

function input(path, labelKey, attrs) {
  return h("label", {}, t(labelKey), h("input", { dataset: { path }, ...attrs }));
}

// setPath sets a value at a dotted path of the draft (contests, 0, title, en).
function setPath(obj, path, v) {
  const ks = path.split(".");
  let o = obj;
  ks.slice(0, -1).forEach((k, i) => {
    if (o[k] === undefined) o[k] = /^\d+$/.test(ks[i + 1]) ? [] : {};
    o = o[k];
  });
  o[ks[ks.length - 1]] = v;
}

let draft = null;

function newDraft() {
  const now = Math.floor(Date.now() / 1000);
  return { constituencies: [{}], contests: [{ kind: "single", candidates: [{}, {}] }], ballot_styles: [{}], trustees: [{}, {}, {}],
    voting_start: now + 3600, voting_end: now + 3600 + 7 * 86400, revote: "last", min_anonymity: 3, threshold: 2 };
}

// collect reads the form back into the draft.
function collect(form) {
  const d = { constituencies: [], contests: [], ballot_styles: [], trustees: [], emblem: draft.emblem, emblemURL: draft.emblemURL, composed: draft.composed };
  for (const e of form.querySelectorAll("[data-path]")) {
    let v = e.value;
    if (e.dataset.kind === "number") v = v === "" ? 0 : Number(v);
    if (e.dataset.kind === "time") v = v ? Math.floor(new Date(v).getTime() / 1000) : 0;
    if (e.dataset.kind === "list") v = v.split(",").map((x) => x.trim()).filter((x) => x);
    setPath(d, e.dataset.path, v);
  }
  d.contests.forEach((c) => { c.candidates = (c.candidates || []).filter(Boolean); });
  return d;
}

function localTime(s) {
  const d = new Date(s * 1000);
  const p = (n) => String(n).padStart(2, "0");
  return d.getFullYear() + "-" + p(d.getMonth() + 1) + "-" + p(d.getDate()) + "T" + p(d.getHours()) + ":" + p(d.getMinutes());
}

function b64url(buf) {
  let s = "";
  for (const b of new Uint8Array(buf)) s += String.fromCharCode(b);
  return btoa(s).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

function screenNew() {
  if (!draft) draft = newDraft();
  const form = h("form", { id: "election-form", novalidate: true });
  // edit applies a change of the form's shape and draws it again; a
  // manifest composed before no longer matches.
  const edit = (f) => () => { draft = collect(form); draft.composed = undefined; f(); route(); };
  const redraw = edit(() => {});
  const add = (list, item) => h("button", { type: "button", class: "add", dataset: { add: list }, text: t("form.add"), onclick: edit(() => draft[list].push(item())) });
  const del = (list, i) => h("button", { type: "button", class: "del", text: t("form.remove"), onclick: edit(() => draft[list].splice(i, 1)) });
  const emblem = h("input", { type: "file", id: "f-emblem", accept: "image/png,image/svg+xml" });
  const emblemImg = h("img", { id: "emblem-preview", alt: "", hidden: !draft.emblemURL, src: draft.emblemURL });
  emblem.addEventListener("change", async () => {
    const f = emblem.files[0];
    if (!f) return;
    draft.emblem = b64url(await f.arrayBuffer());
    draft.emblemURL = URL.createObjectURL(f);
    emblemImg.src = draft.emblemURL;
    emblemImg.hidden = false;
  });
  form.append(
    h("h2", { text: t("form.general") }),
    input("election_id", "form.election-id", { value: draft.election_id || "", pattern: "[a-z0-9][a-z0-9-]{0,63}", id: "f-id" }),
    text4("title", "form.title", draft.title),
    h("h2", { text: t("form.authority") }),
    text4("authority_name", "form.authority-name", draft.authority_name),
    text4("authority_help", "form.authority-help", draft.authority_help),
    h("label", {}, t("form.emblem"), emblem), emblemImg,
    h("h2", { text: t("form.constituencies") }),
    ...draft.constituencies.map((c, i) => h("div", { class: "item" },
      input("constituencies." + i + ".id", "form.id", { value: c.id || "" }), text4("constituencies." + i + ".name", "form.name", c.name), del("constituencies", i))),
    add("constituencies", () => ({})),
    h("h2", { text: t("form.contests") }),
    ...draft.contests.map((c, i) => h("div", { class: "item contest" },
      input("contests." + i + ".id", "form.id", { value: c.id || "" }),
      text4("contests." + i + ".title", "form.contest-title", c.title),
      h("label", {}, t("form.kind"), h("select", { dataset: { path: "contests." + i + ".kind" }, onchange: redraw },
        h("option", { value: "single", text: t("form.kind-single"), selected: c.kind === "single" }),
        h("option", { value: "multi", text: t("form.kind-multi"), selected: c.kind === "multi" }))),
      c.kind === "multi" ? input("contests." + i + ".max_selections", "form.max", { type: "number", min: 1, value: c.max_selections || 1, dataset: { path: "contests." + i + ".max_selections", kind: "number" } }) : null,
      h("h3", { text: t("form.candidates") }),
      ...(c.candidates || []).map((k, j) => h("div", { class: "candidate" },
        input("contests." + i + ".candidates." + j + ".id", "form.id", { value: k.id || "" }),
        text4("contests." + i + ".candidates." + j + ".name", "form.name", k.name),
        h("button", { type: "button", class: "del", text: t("form.remove"), onclick: edit(() => draft.contests[i].candidates.splice(j, 1)) }))),
      h("button", { type: "button", class: "add", dataset: { addCandidate: i }, text: t("form.add-candidate"), onclick: edit(() => draft.contests[i].candidates.push({})) }),
      del("contests", i))),
    add("contests", () => ({ kind: "single", candidates: [{}, {}] })),
    h("h2", { text: t("form.styles") }),
    h("p", { class: "hint", text: t("form.styles-hint") }),
    ...draft.ballot_styles.map((s, i) => h("div", { class: "item row" },
      input("ballot_styles." + i + ".id", "form.id", { value: s.id || "" }),
      input("ballot_styles." + i + ".constituency", "form.constituency", { value: s.constituency || "" }),
      h("label", {}, t("form.style-contests"), h("input", { dataset: { path: "ballot_styles." + i + ".contests", kind: "list" }, value: (s.contests || []).join(", ") })),
      del("ballot_styles", i))),
    add("ballot_styles", () => ({})),
    h("h2", { text: t("form.voting") }),
    h("div", { class: "row" },
      h("label", {}, t("form.start"), h("input", { type: "datetime-local", dataset: { path: "voting_start", kind: "time" }, value: localTime(draft.voting_start) })),
      h("label", {}, t("form.end"), h("input", { type: "datetime-local", dataset: { path: "voting_end", kind: "time" }, value: localTime(draft.voting_end) }))),
    h("label", {}, t("form.revote"), h("select", { dataset: { path: "revote" } },
      h("option", { value: "last", text: t("form.revote-last"), selected: draft.revote === "last" }),
      h("option", { value: "single", text: t("form.revote-single"), selected: draft.revote === "single" }))),
    h("label", {}, t("form.coercion"), h("select", { dataset: { path: "coercion" }, id: "f-coercion", onchange: redraw },
      h("option", { value: "none", text: t("form.coercion-none"), selected: draft.coercion !== "deniable-revoting" }),
      h("option", { value: "deniable-revoting", text: t("form.coercion-deniable"), selected: draft.coercion === "deniable-revoting" }))),
    ...(draft.coercion !== "deniable-revoting" ? [] : [h("div", { class: "row", id: "f-coercion-numbers" },
      h("p", { class: "hint", text: t("form.coercion-hint") }),
      h("label", {}, t("form.slot-seconds"), h("input", { type: "number", min: 10, max: 3600, dataset: { path: "slot_seconds", kind: "number" }, value: draft.slot_seconds || 60 })),
      h("label", {}, t("form.slot-rows"), h("input", { type: "number", min: 1, max: 1048576, dataset: { path: "slot_rows", kind: "number" }, value: draft.slot_rows || 100 })),
      h("label", {}, t("form.max-ballots"), h("input", { type: "number", min: 2, max: 64, dataset: { path: "max_ballots", kind: "number" }, value: draft.max_ballots || 8 })))]),
    h("label", {}, t("form.min-anonymity"), h("input", { type: "number", min: 1, dataset: { path: "min_anonymity", kind: "number" }, value: draft.min_anonymity })),
    h("h2", { text: t("form.trustees") }),
    h("p", { class: "hint", text: t("form.trustees-hint") }),
    ...draft.trustees.map((tr, i) => {
      const keys = h("textarea", { rows: 2, dataset: { path: "trustees." + i + ".public_keys" }, class: "keys" });
      keys.value = tr.public_keys || "";
      const file = h("input", { type: "file", accept: ".txt,text/plain", class: "keyfile" });
      file.addEventListener("change", async () => { if (file.files[0]) keys.value = await file.files[0].text(); });
      return h("div", { class: "item" }, input("trustees." + i + ".name", "form.trustee-name", { value: tr.name || "" }),
        h("label", {}, t("form.trustee-keys"), keys), h("label", {}, t("form.trustee-file"), file), del("trustees", i));
    }),
    add("trustees", () => ({})),
    h("label", {}, t("form.threshold"), h("input", { type: "number", min: 1, dataset: { path: "threshold", kind: "number" }, value: draft.threshold })),
    h("h2", { text: t("form.witnesses") }),
    h("label", {}, t("form.witness-names"), h("input", { dataset: { path: "witnesses", kind: "list" }, value: (draft.witnesses || []).join(", ") })),
    h("label", {}, t("form.quorum"), h("input", { type: "number", min: 0, dataset: { path: "quorum", kind: "number" }, value: draft.quorum || 0 })),
    h("label", {}, t("form.identity-key"), h("input", { dataset: { path: "identity_key" }, value: draft.identity_key || "" })),
  );
  const preview = h("div", { id: "preview" });
  const check = h("button", { type: "button", id: "f-check", text: t("form.check"), onclick: async () => {
    draft = collect(form);
    if (!markMissing(form)) { notice(() => t("form.missing"), true); return; }
    try {
      const body = { ...draft };
      delete body.emblemURL;
      delete body.composed;
      if (!body.identity_key) delete body.identity_key;
      const r = await call("POST", "/elections/manifest", body);
      draft.composed = r;
      setKids(preview, renderPreview(draft, r));
      preview.scrollIntoView();
      notice(() => t("form.valid"));
    } catch (e) { notice(() => errorText(e), true); draft.composed = undefined; setKids(preview); }
  } });
  if (draft.composed) preview.append(renderPreview(draft, draft.composed));
  return h("section", { class: "card" }, heading("form.heading"), form, h("div", { class: "row noprint" }, check), preview);
}

// markMissing outlines every empty language input and reports whether
// all four languages of every text are given.
function markMissing(form) {
  let ok = true;
  for (const e of form.querySelectorAll(".text4 input")) {
    const empty = e.value.trim() === "";
    e.classList.toggle("missing", empty);
    e.setAttribute("aria-invalid", empty ? "true" : "false");
    if (empty) ok = false;
  }
  return ok;
}

// renderPreview shows the ballot as voters see it on a phone, in the
// chosen language, the fingerprint and the buttons to print the sheet
// and create the election.
function renderPreview(d, r) {
  const pl = h("select", { id: "preview-lang" }, ...LANGS.map((l) => h("option", { value: l, text: l, selected: l === lang })));
  const phone = h("div", { class: "phone", id: "phone" });
  const draw = () => {
    const L = pl.value;
    const style = d.ballot_styles[0] || { contests: [] };
    setKids(phone, 
      h("div", { class: "authority" }, d.emblemURL ? h("img", { src: d.emblemURL, alt: "" }) : null, h("span", { text: d.authority_name?.[L] || "" })),
      h("h2", { text: d.title?.[L] || "" }),
      ...(style.contests || []).map((id) => {
        const c = d.contests.find((x) => x.id === id);
        if (!c) return null;
        const single = c.kind === "single";
        return h("fieldset", { class: "contest" }, h("legend", { text: c.title?.[L] || "" }),
          h("p", { class: "hint", text: single ? t("preview.single") : t("preview.multi").replace("{k}", c.max_selections || 1) }),
          ...c.candidates.map((k) => h("label", { class: "choice" }, h("input", { type: single ? "radio" : "checkbox", name: "p-" + c.id, disabled: true }), " ", k.name?.[L] || "")),
          single ? h("label", { class: "choice" }, h("input", { type: "radio", name: "p-" + c.id, disabled: true }), " ", t("preview.blank")) : null);
      }),
      h("p", { class: "help", text: d.authority_help?.[L] || "" }));
  };
  pl.addEventListener("change", draw);
  draw();
  const create = h("button", { type: "button", id: "f-create", class: "danger", text: t("form.create"), onclick: async () => {
    if (!await confirmDialog(() => t("form.create"), () => t("confirm.create"))) return;
    try {
      const info = await call("POST", "/elections", { manifest: r.manifest });
      draft = null;
      notice(() => t("form.created").replace("{id}", info.election_id));
      location.hash = "#/e/" + info.election_id;
    } catch (e) { notice(() => errorText(e), true); }
  } });
  return h("div", {},
    h("h2", { class: "noprint", text: t("preview.title") }), h("label", { class: "noprint" }, t("language"), pl), phone,
    fingerprintSheet(d.title, r.election_id, r.fingerprint, r.fingerprint_hex),
    h("div", { class: "row noprint" }, h("button", { type: "button", id: "print-sheet", text: t("fingerprint.print"), onclick: () => window.print() }), create));
}

function fingerprintSheet(title, id, fp, hex) {
  return h("div", { class: "sheet", id: "fingerprint-sheet" },
    h("h2", { text: t("fingerprint.title") }),
    h("p", {}, h("strong", { text: title?.[lang] || "" }), " — ", id),
    h("p", { class: "fingerprint", id: "fingerprint", text: fp }),
    h("p", { class: "hex", text: hex }),
    h("p", { class: "hint", text: t("fingerprint.explain") }));
}

// dialogText gives the open dialog's title and text in the current
// language (drawn again when the language changes).
let dialogText = null;

function drawDialog() {
  if (!dialogText) return;
  document.getElementById("confirm-title").textContent = dialogText[0]();
  document.getElementById("confirm-text").textContent = dialogText[1]();
}

// confirmDialog asks before an action that cannot be undone; title and
// text are functions giving them in the current language.
function confirmDialog(title, text) {
  const d = document.getElementById("confirm");
  dialogText = [title, text];
  drawDialog();
  return new Promise((resolve) => {
    const done = (v) => () => { d.close(); dialogText = null; yes.removeEventListener("click", onYes); no.removeEventListener("click", onNo); resolve(v); };
    const yes = document.getElementById("confirm-yes");
    const no = document.getElementById("confirm-no");
    const onYes = done(true);
    const onNo = done(false);
    yes.addEventListener("click", onYes);
    no.addEventListener("click", onNo);
    d.showModal();
  });
}

// ---- the election dashboard ----

// voterCheck is the last voter-list report, kept across the dashboard's
// refreshes and changes of language: {id, file, report, csv}, and once
// the list official has signed it, imported (the identity service's answer).
let voterCheck = null;

const PROBLEMS = { unreadable: "voters.problem.unreadable", pin: "voters.problem.pin", style_malformed: "voters.problem.style-malformed",
  style_unknown: "voters.problem.style-unknown", phone: "voters.problem.phone", duplicate: "voters.problem.duplicate" };

// signable says whether the list official may sign the checked file: some
// valid line, every refused line listed (and readable), so that the server
// can leave the refused ones out exactly.
function signable(r) {
  return r.valid > 0 && !r.omitted && !r.problems.some((p) => p.code === "unreadable");
}

function unb64url(s) {
  const bin = atob(s.replace(/-/g, "+").replace(/_/g, "/"));
  return Uint8Array.from(bin, (c) => c.charCodeAt(0));
}

function toHex(u8) {
  return [...u8].map((b) => b.toString(16).padStart(2, "0")).join("");
}

// loadSeedKey reads the list official's key file — the same file the CLI
// takes (evote official import-voters --official-key): the 32-byte Ed25519
// seed in hex — into a WebCrypto signing key and its public key in hex.
// The seed stays in this page: only the public key and the signature are
// sent.
async function loadSeedKey(file) {
  const txt = (await file.text()).trim();
  if (!/^[0-9a-fA-F]{64}$/.test(txt)) throw new Error(t("voters.sign.badkey"));
  const seed = Uint8Array.from(txt.match(/../g), (x) => parseInt(x, 16));
  // PKCS #8 of an Ed25519 private key (RFC 8410): a fixed prefix, then
  // the seed.
  const prefix = [0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20];
  const pkcs8 = new Uint8Array([...prefix, ...seed]);
  seed.fill(0);
  const key = await crypto.subtle.importKey("pkcs8", pkcs8, { name: "Ed25519" }, true, ["sign"]);
  pkcs8.fill(0);
  const jwk = await crypto.subtle.exportKey("jwk", key);
  return { key, pub: toHex(unb64url(jwk.x)) };
}

// signForm is the list official's step: their id, the kind of change and
// their key file; the server prepares the statement of the change
// (spec §10.9), the page signs its signing bytes with WebCrypto Ed25519
// and submits it to the identity service through the officials' API.
function signForm(id) {
  const official = h("input", { id: "sign-official", autocomplete: "off", value: voterCheck.official || "",
    oninput: () => { voterCheck.official = official.value.trim(); } });
  const kind = h("select", { id: "sign-kind", onchange: () => { voterCheck.kind = kind.value; } },
    h("option", { value: "build", text: t("voters.sign.kind-build") }),
    h("option", { value: "import", text: t("voters.sign.kind-import"), selected: voterCheck.kind === "import" }));
  const keyFile = h("input", { type: "file", id: "sign-key" });
  // The last refusal, drawn again in the language of a redrawn form.
  const status = h("p", { id: "sign-status", role: "status", class: voterCheck.refusal ? "bad" : "", text: voterCheck.refusal?.() });
  const submit = h("button", { type: "button", id: "sign-submit", text: t("voters.sign.submit"), onclick: async () => {
    submit.disabled = true;
    try {
      if (!keyFile.files[0]) throw new Error(t("voters.sign.nokey"));
      voterCheck.official = official.value.trim();
      voterCheck.kind = kind.value;
      const { key, pub } = await loadSeedKey(keyFile.files[0]);
      const p = await call("POST", "/elections/" + encodeURIComponent(id) + "/voters/prepare",
        { csv: voterCheck.csv, official_id: voterCheck.official, official_key: pub, kind: kind.value });
      const sig = new Uint8Array(await crypto.subtle.sign({ name: "Ed25519" }, key, unb64url(p.signing_bytes)));
      const st = unb64url(p.statement);
      st.set(sig, p.signature_offset);
      const res = await call("POST", "/elections/" + encodeURIComponent(id) + "/voters/submit", { statement: b64url(st), salt: p.salt, items: p.items });
      voterCheck.imported = { ...res, left: p.report.problems.length };
      keyFile.value = "";
      route();
    } catch (e) {
      voterCheck.refusal = () => e.code === "official_refused" ? t("voters.sign.refused") + " (" + e.message + ")" : errorText(e);
      status.className = "bad";
      status.textContent = voterCheck.refusal();
      submit.disabled = false;
    }
  } });
  return h("fieldset", { id: "voters-sign" }, h("legend", { text: t("voters.sign.title") }),
    h("p", { class: "hint", text: t("voters.sign.hint") }),
    h("label", {}, t("voters.sign.official"), official), h("label", {}, t("voters.sign.kind"), kind),
    h("label", {}, t("voters.sign.key"), keyFile), submit, status);
}

// cachedSignForm keeps the same form (and the key file chosen in it)
// across the dashboard's refreshes every few seconds; a change of language
// draws it anew.
function cachedSignForm(id) {
  if (!voterCheck.form || voterCheck.formLang !== lang) {
    voterCheck.form = signForm(id);
    voterCheck.formLang = lang;
  }
  return voterCheck.form;
}

// importedView shows the identity service's answer to a submitted change:
// its sequence, the voters added, and the list's count per ballot style.
function importedView(r, styleName) {
  return h("div", { id: "voters-imported" },
    h("p", { class: "ok", id: "voters-imported-summary", text: t("voters.sign.done").replace("{seq}", r.sequence).replace("{added}", r.added).replace("{left}", r.left) }),
    h("table", { id: "voters-list-counts" },
      h("thead", {}, h("tr", {}, h("th", { text: t("voters.style") }), h("th", { class: "num", text: t("voters.sign.listed") }))),
      h("tbody", {}, Object.keys(r.counts).sort().map((sid) => h("tr", { dataset: { style: sid } }, h("td", { text: styleName(sid) }), h("td", { class: "num", text: r.counts[sid] }))))));
}

// voterSection lets an official check a voter-list file line by line
// before the list official signs and submits it.
function voterSection(id, b) {
  const file = h("input", { type: "file", id: "voters-file", accept: ".csv,text/csv" });
  const out = h("div", { id: "voters-report" });
  const draw = () => {
    if (!voterCheck || voterCheck.id !== id) return;
    const r = voterCheck.report;
    const styleName = (sid) => {
      const st = b.ballot_styles.find((x) => x.id === sid);
      const c = st && b.constituencies.find((x) => x.id === st.constituency);
      return (c ? (c.name[lang] || c.name.en) + " " : "") + "(" + sid + ")";
    };
    setKids(out, 
      h("p", { class: r.problems.length ? "bad" : "ok", id: "voters-summary",
        text: t("voters.summary").replace("{file}", voterCheck.file).replace("{lines}", r.lines).replace("{valid}", r.valid).replace("{bad}", r.problems.length + r.omitted) }),
      r.problems.length ? h("table", { id: "voters-problems" },
        h("thead", {}, h("tr", {}, h("th", { class: "num", text: t("voters.line") }), h("th", { text: t("voters.problem") }))),
        h("tbody", {}, r.problems.map((p) => h("tr", { dataset: { line: p.line, code: p.code } }, h("td", { class: "num", text: p.line }),
          h("td", { text: t(PROBLEMS[p.code] || "voters.problem.unreadable").replace("{other}", p.other || "") }))))) : null,
      r.omitted ? h("p", { class: "hint", text: t("voters.omitted").replace("{n}", r.omitted) }) : null,
      h("table", { id: "voters-counts" },
        h("thead", {}, h("tr", {}, h("th", { text: t("voters.style") }), h("th", { class: "num", text: t("voters.count") }))),
        h("tbody", {}, Object.keys(r.counts).sort().map((sid) => h("tr", {}, h("td", { text: styleName(sid) }), h("td", { class: "num", text: r.counts[sid] }))))),
      signable(r) ? h("p", { text: r.problems.length ? t("voters.next-some") : t("voters.next") }) : h("p", { text: t("voters.fix") }),
      signable(r) && !voterCheck.imported ? cachedSignForm(id) : null,
      voterCheck.imported ? importedView(voterCheck.imported, styleName) : null);
  };
  file.addEventListener("change", async () => {
    const f = file.files[0];
    if (!f) return;
    try {
      const report = await call("POST", "/elections/" + encodeURIComponent(id) + "/voters/check", { csv: await f.text() });
      voterCheck = { id, file: f.name, report, csv: await f.text() };
      draw();
    } catch (e) { notice(() => errorText(e), true); }
  });
  draw();
  return h("div", { class: "noprint", id: "voters" }, h("h2", { text: t("voters.title") }), h("p", { class: "hint", text: t("voters.hint") }),
    h("label", {}, t("voters.file"), file), out);
}

async function screenElection(id) {
  const st = await call("GET", "/elections/" + encodeURIComponent(id) + "/status");
  const b = st.ballot;
  const txt = (x) => x?.[lang] || x?.en || "";
  // A trustee is late for a step another trustee has done.
  const yes = (x, k) => (x[k] ? h("td", { text: "✓" })
    : st.trustees.some((o) => o[k]) ? h("td", { class: "bad late", text: t("trustee.late") }) : h("td", { text: "—" }));
  const count = (x, k, of) => {
    const late = x[k] < Math.max(...st.trustees.map((o) => o[k])) && x[k] < of;
    return h("td", { class: late ? "bad late" : "", text: x[k] + " / " + of + (late ? " · " + t("trustee.late") : "") });
  };
  const trustees = h("table", { id: "trustees" },
    h("thead", {}, h("tr", {}, ...["trustee.name", "trustee.commitments", "trustee.shares", "trustee.extraction", "trustee.qualified", "trustee.complaints", "trustee.mixed", "trustee.decrypted", "trustee.invalid"].map((k) => h("th", { text: t(k) })))),
    h("tbody", {}, st.trustees.map((x) => h("tr", {},
      h("td", { text: x.index + ". " + x.name }), yes(x, "commitments"), yes(x, "shares"), yes(x, "extraction"),
      h("td", { class: x.qualified === false ? "bad" : "", text: x.qualified === undefined ? "…" : x.qualified ? "✓" : "✗" }),
      h("td", { class: x.complaints_against > x.answers ? "bad" : "", text: x.complaints_against + " / " + x.answers }),
      count(x, "contests_mixed", st.mixable), count(x, "contests_decrypted", st.decryptable),
      h("td", { class: x.invalid_entries ? "bad" : "", text: x.invalid_entries })))));
  const styles = b?.ballot_styles || [];
  const turnout = h("table", { id: "turnout" },
    h("thead", {}, h("tr", {}, h("th", { text: t("turnout.constituency") }), h("th", { text: t("turnout.voters") }))),
    h("tbody", {}, styles.map((s) => h("tr", {}, h("td", { text: txt(b.constituencies.find((c) => c.id === s.constituency)?.name) + " (" + s.id + ")" }),
      h("td", { text: st.turnout[s.id] || 0 })))));
  const actions = h("div", { class: "actions", id: "actions" }, st.actions.map((a) => h("button", {
    type: "button", class: "action" + (["open", "close", "cleanse", "tally"].includes(a.action) ? " danger" : ""), dataset: { action: a.action },
    disabled: !a.ready || !can("run"), title: a.ready ? t("action.ready") : a.message, text: t("action." + a.action),
    onclick: async () => {
      if (!await confirmDialog(() => t("action." + a.action), () => t("confirm." + a.action))) return;
      try {
        const p = await call("POST", "/elections/" + encodeURIComponent(id) + "/actions/" + a.action);
        notice(() => t("action.done").replace("{action}", t("action." + a.action)).replace("{index}", p.index));
      } catch (e) { notice(() => errorText(e), true); }
      route();
    } })));
  const parts = [
    h("h1", { text: txt(b?.title) || id }),
    h("p", {}, h("span", { class: "phase", id: "phase", dataset: { phase: st.phase }, text: t("phase." + st.phase) }), " · ",
      t("election.entries").replace("{n}", st.size), " · ", t("election.ballots").replace("{n}", st.ballots)),
    b ? h("p", { class: "noprint" }, t("fingerprint.title"), ": ", h("code", { id: "dash-fingerprint", text: b.fingerprint })) : null,
    h("h2", { class: "noprint", text: t("election.actions") }), can("run") ? null : h("p", { class: "hint", text: t("election.read-only") }), actions,
    h("h2", { class: "noprint", text: t("election.keygen") }), h("div", { class: "scroll" }, trustees),
    h("h2", { class: "noprint", text: t("turnout.title") }), h("div", { class: "scroll" }, turnout),
    b && can("run") && ["setup", "ready", "open"].includes(st.phase) ? voterSection(id, b) : null,
  ];
  if (st.result && b) parts.push(await resultSection(id, st, b));
  return h("section", { class: "card dashboard" }, ...parts);
}

// resultRows lists, per contest, the rows (label, count) of the result.
function resultRows(st, b, L) {
  return st.result.map((r) => {
    const c = b.contests.find((x) => x.id === r.contest_id);
    const names = c.candidates.map((k) => k.name[L] || k.name.en);
    const rows = r.withheld ? [] : c.kind === "single"
      ? [[t("preview.blank"), r.counts[0]], ...names.map((n, i) => [n, r.counts[i + 1]])]
      : names.map((n, i) => [n, r.counts[i]]);
    return { contest: c, result: r, rows };
  });
}

async function resultSection(id, st, b) {
  const txt = (x) => x?.[lang] || x?.en || "";
  const cp = await call("GET", "/elections/" + encodeURIComponent(id) + "/checkpoint");
  const res = resultRows(st, b, lang);
  const csv = ["contest,choice,votes"];
  for (const x of res) for (const [n, v] of x.rows) csv.push([x.contest.id, n, v].map((f) => '"' + String(f).replace(/"/g, '""') + '"').join(","));
  const href = URL.createObjectURL(new Blob([csv.join("\r\n") + "\r\n"], { type: "text/csv" }));
  const tables = res.map((x) => {
    const max = Math.max(1, ...x.rows.map((r) => r[1]));
    const where = b.ballot_styles.filter((s) => s.contests.includes(x.contest.id))
      .map((s) => txt(b.constituencies.find((c) => c.id === s.constituency)?.name) || s.constituency).join(", ");
    return h("div", { class: "contest-result" }, h("h3", { text: x.contest.title[lang] || x.contest.title.en }),
      h("p", { class: "hint", text: t("result.constituencies") + ": " + where }),
      h("p", { text: t("result.ballots").replace("{n}", x.result.ballots) + (x.result.withheld ? " — " + t("result.withheld") : "") }),
      h("table", { class: "result" }, h("thead", {}, h("tr", {}, h("th", { text: t("result.choice") }), h("th", { class: "num", text: t("result.votes") }), h("th", {}))),
        h("tbody", {}, x.rows.map(([n, v]) => h("tr", {}, h("td", { text: n }), h("td", { class: "num", text: v }),
          h("td", {}, h("meter", { min: 0, max, value: v, text: v })))))));
  });
  return h("div", { id: "result" },
    h("h2", { text: t("result.title") }),
    h("div", { class: "protocol", id: "protocol" },
      h("p", { class: "print-only", text: t("result.protocol") }),
      h("p", {}, h("strong", { text: txt(b.authority) }), " · ", txt(b.title), " (", id, ")"),
      h("p", { class: "hint", text: t("result.printed").replace("{time}", new Date().toLocaleString(lang)) }),
      ...tables,
      h("p", {}, t("fingerprint.title"), ": ", h("code", { text: b.fingerprint }), h("br"), h("code", { class: "hex", text: b.fingerprint_hex })),
      h("p", {}, t("result.checkpoint"), ":"), h("pre", { id: "final-checkpoint", text: cp.note })),
    h("div", { class: "row noprint" },
      h("a", { class: "button", id: "result-csv", href, download: id + "-result.csv", text: t("result.csv") }),
      h("button", { type: "button", id: "print-protocol", text: t("result.print"), onclick: () => window.print() })));
}

// ---- routing ----

// gen counts the routes taken: a refresh or a draw of an older one, still
// in flight when the official moved on, must not land.
let gen = 0;

async function route() {
  const my = ++gen;
  clearInterval(poll);
  poll = null;
  const s = session();
  const nav = document.getElementById("nav");
  nav.hidden = !s;
  for (const a of nav.querySelectorAll("[data-needs]")) a.hidden = !can(a.dataset.needs);
  document.getElementById("who").textContent = s ? s.user + " · " + t("role." + s.role) : "";
  let hash = location.hash || "#/elections";
  if (!s) hash = "#/login";
  if (hash !== "#/accounts") enrolled = null;
  let view;
  try {
    if (hash === "#/login") view = screenLogin();
    else if (hash === "#/sessions") view = await screenSessions();
    else if (hash === "#/operations") view = await screenOperations();
    else if (hash === "#/accounts") view = screenAccounts();
    else if (hash === "#/new") view = screenNew();
    else if (hash.startsWith("#/e/")) {
      const id = decodeURIComponent(hash.slice(4));
      view = await screenElection(id);
      if (my === gen) {
        const timer = setInterval(async () => {
          if (my !== gen || !session()) { clearInterval(timer); return; }
          if (document.querySelector("dialog[open]")) return;
          try { const v = await screenElection(id); if (my === gen) setKids(app(), v); } catch { /* shown on the next route */ }
        }, 3000);
        poll = timer;
      }
    } else view = await screenElections();
  } catch (e) {
    notice(() => errorText(e), true);
    if (!session()) { location.hash = "#/login"; view = screenLogin(); } else view = h("p", { text: t("error.generic") });
  }
  if (my !== gen) return;
  setKids(app(), view);
  document.body.dataset.screen = hash.split("/")[1] || "elections";
  document.body.dataset.rendered = String(Number(document.body.dataset.rendered || 0) + 1);
}

async function main() {
  document.getElementById("lang").addEventListener("change", async (e) => {
    // Keep what was typed in the election form across the change.
    const form = document.getElementById("election-form");
    if (form && draft) draft = collect(form);
    await loadLang(e.target.value);
    route();
  });
  document.getElementById("signout").addEventListener("click", async () => {
    try { await call("POST", "/officials/logout"); } catch { /* the session may have expired */ }
    setSession(null);
    notice(() => t("nav.signed-out"));
    location.hash = "#/login";
    route();
  });
  window.addEventListener("hashchange", route);
  await loadLang(lang);
  await route();
  document.body.dataset.ready = "1";
}

main();
