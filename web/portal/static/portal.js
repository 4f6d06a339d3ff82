// The observers' portal (spec/16-portal.md). Read-only: it uses the
// public read routes of the ballot box and of its bulletin board, and
// decodes and checks what it shows with the portal's WebAssembly module
// (the auditor's verifier and the record's decoders, in a Web Worker).
// No markup is ever built from strings: every node is created with
// textContent (the page enforces Trusted Types).
"use strict";

(() => {
  const me = document.currentScript;
  const cfg = {
    worker: me.dataset.worker, exec: me.dataset.exec, execIntegrity: me.dataset.execIntegrity,
    wasm: me.dataset.wasm, wasmIntegrity: me.dataset.wasmIntegrity, wasmSize: +me.dataset.wasmSize,
    wasmSHA256: me.dataset.wasmSha256, api: me.dataset.api, langs: JSON.parse(me.dataset.langFiles),
  };
  const $ = (id) => document.getElementById(id);
  const LANGS = ["ky", "ru", "uz", "en"];
  const PAGE = 20; // board explorer page: aligned, so full pages are immutable in caches
  let lang = "en", dict = {};
  const state = { elections: [], id: "", info: null, el: null, manifest: "", cp: null, view: "", boardStart: 0, timer: 0 };

  // ---- Trusted Types: the only script URLs are the worker's. ----
  let policy = null;
  if (window.trustedTypes) {
    policy = trustedTypes.createPolicy("portal", {
      createScriptURL: (u) => {
        if (u !== cfg.worker) throw new Error("portal: unexpected script URL");
        return u;
      },
    });
  }

  // ---- DOM helpers ----
  function h(tag, attrs, ...kids) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (k === "class") e.className = v;
      else if (k === "text") e.textContent = v;
      else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
      else e.setAttribute(k, v);
    }
    for (const c of kids) if (c !== null && c !== undefined) e.append(c instanceof Node ? c : String(c));
    return e;
  }
  const clear = (e) => { while (e.firstChild) e.firstChild.remove(); return e; };
  const T = (k, ...a) => {
    let s = dict[k];
    if (s === undefined) { console.warn("portal: missing translation " + k); s = k; }
    return s.replace(/\{(\d)\}/g, (_, i) => a[+i]);
  };
  const tx = (t) => (t && (t[lang] || t.en)) || "";
  const fmtTime = (s) => (s ? new Date(s * 1000).toISOString().replace("T", " ").replace(/\.\d+Z$/, " UTC") : "—");
  const num = (n) => Number(n).toLocaleString(lang === "uz" ? "uz-Latn" : lang);
  const short = (hex) => (hex && hex.length > 16 ? hex.slice(0, 8) + "…" + hex.slice(-8) : hex || "");
  function status(msg) { $("status").textContent = msg || ""; }
  function fail(msg) { const e = $("error"); e.textContent = msg; e.hidden = !msg; }

  // ---- translations (each file fetched with its integrity) ----
  const langCache = {};
  async function setLang(l) {
    if (!LANGS.includes(l)) l = "en";
    const f = cfg.langs[l];
    langCache[l] = langCache[l] || fetch(f.path, { integrity: f.integrity, credentials: "omit" }).then((r) => {
      if (!r.ok) throw new Error("translation " + l);
      return r.json();
    });
    dict = await langCache[l];
    lang = l;
    document.documentElement.lang = l === "uz" ? "uz-Latn" : l;
    for (const e of document.querySelectorAll("[data-i18n]")) e.textContent = T(e.dataset.i18n);
    for (const b of document.querySelectorAll("[data-lang]")) b.setAttribute("aria-pressed", String(b.dataset.lang === l));
    try { localStorage.setItem("portal-lang", l); } catch (e) { /* private mode */ }
    document.title = T("brand");
  }

  // ---- the worker and its module ----
  let worker = null, ready = null, seq = 0;
  const pending = new Map();
  function startWorker() {
    if (ready) return ready;
    $("core-wait").hidden = false;
    ready = new Promise((resolve, reject) => {
      worker = new Worker(policy ? policy.createScriptURL(cfg.worker) : cfg.worker);
      worker.onmessage = (ev) => {
        const m = ev.data;
        if (m.type === "loading") {
          const pct = Math.min(100, Math.round((100 * m.done) / (m.total || cfg.wasmSize)));
          $("core-bar").value = pct;
          $("core-pct").textContent = pct + " %";
        } else if (m.type === "ready") {
          $("core-wait").hidden = true;
          resolve();
        } else if (m.type === "fatal") {
          $("core-wait").hidden = true;
          reject(new Error(m.error));
        } else if (m.type === "progress") {
          const p = pending.get(m.id);
          if (p && p.progress) p.progress(m.stage, m.done, m.total);
        } else if (m.type === "done") {
          const p = pending.get(m.id);
          pending.delete(m.id);
          if (!p) return;
          if (m.error) p.reject(new Error(m.error));
          else p.resolve(JSON.parse(m.result));
        }
      };
      worker.onerror = (e) => reject(new Error(e.message || "worker"));
      worker.postMessage({ type: "init", exec: cfg.exec, execIntegrity: cfg.execIntegrity, wasm: cfg.wasm, wasmIntegrity: cfg.wasmIntegrity, size: cfg.wasmSize });
    });
    return ready;
  }
  async function call(op, arg, progress) {
    await startWorker();
    const id = ++seq;
    return new Promise((resolve, reject) => {
      pending.set(id, { resolve, reject, progress });
      worker.postMessage({ type: "call", id, op, arg: JSON.stringify(arg) });
    });
  }

  // ---- the public API ----
  async function api(path, opts) {
    const r = await fetch(cfg.api + path, { credentials: "omit", headers: { Accept: "application/json" } });
    if (opts && opts.allow404 && r.status === 404) return null;
    if (!r.ok) {
      let msg = r.status + "";
      try { msg = (await r.json()).error.message; } catch (e) { /* not JSON */ }
      throw new Error(T("err_api", path, msg));
    }
    return r.json();
  }
  const board = (p) => "/board/" + state.info.log + p;
  const b64ToHex = (s) => Array.from(atob(s), (c) => c.charCodeAt(0).toString(16).padStart(2, "0")).join("");

  // ---- routing: #e=<id>&v=<view>[&at=<position>] ----
  function route() {
    const q = new URLSearchParams(location.hash.slice(1));
    return { id: q.get("e") || "", view: q.get("v") || "overview", at: q.get("at") };
  }
  function go(view, extra) {
    const q = new URLSearchParams({ e: state.id, v: view, ...(extra || {}) });
    location.hash = q.toString();
  }
  function show(id) {
    for (const s of document.querySelectorAll("main > section")) s.hidden = s.id !== id;
    document.body.dataset.view = id;
    for (const a of document.querySelectorAll("#tabs a")) {
      a.href = "#" + new URLSearchParams({ e: state.id, v: a.dataset.view }).toString();
      if ("v-" + a.dataset.view === id) a.setAttribute("aria-current", "page"); else a.removeAttribute("aria-current");
    }
    $("tabs").hidden = id === "v-home" || !state.id;
  }

  async function render() {
    fail("");
    clearInterval(state.timer);
    const r = route();
    try {
      if (!r.id && r.view === "verify") {
        // The verifier alone needs only the board's read routes (a mirror
        // of the record): no election info, nothing but the fingerprint.
        state.id = "";
        state.view = "verify";
        show("v-verify");
        await renderVerify();
        document.body.dataset.ready = "verify";
        return;
      }
      if (!r.id) {
        state.elections = await api("/elections");
        if (state.elections.length === 1) { state.id = state.elections[0].election_id; go("overview"); return; }
        renderHome();
        return;
      }
      if (r.id !== state.id || !state.info) await loadElection(r.id);
      else state.info = await api("/elections/" + encodeURIComponent(state.id));
      state.view = r.view;
      show("v-" + r.view);
      const views = { overview: renderOverview, turnout: renderTurnout, board: renderBoard, ballot: renderBallotForm, results: renderResults, verify: renderVerify };
      await (views[r.view] || renderOverview)(r);
      document.body.dataset.ready = r.view;
    } catch (e) {
      fail(e.message);
    }
  }

  function renderHome() {
    show("v-home");
    const ul = clear($("elections"));
    for (const e of state.elections) {
      ul.append(h("li", {}, h("a", { href: "#" + new URLSearchParams({ e: e.election_id, v: "overview" }), text: e.election_id }), " — ", T("phase_" + e.phase)));
    }
    document.body.dataset.ready = "home";
  }

  async function loadElection(id) {
    state.id = id;
    state.info = await api("/elections/" + encodeURIComponent(id));
    if (!state.info.manifest) throw new Error(T("err_no_manifest"));
    // The API's manifest is decoded and fingerprinted here; the page
    // shows what the manifest says, never the API's summary of it.
    const b = atob(state.info.manifest.replace(/-/g, "+").replace(/_/g, "/"));
    state.manifest = btoa(b);
    state.el = await call("describe", { manifest: state.manifest });
    state.cp = null;
    state.lifecycle = null;
    // The board's first entry carries the manifest: its author is the
    // election authority, once the module checked that it is the log's
    // first entry in the tree of the cosigned checkpoint. Until then (no
    // valid checkpoint) no entry is shown as the authority's, and no
    // result, lifecycle or row is checked.
    await loadCheckpoint();
    state.firstError = "";
    try {
      const first = await api(board("/entries?start=0&limit=1"));
      const e = first.entries[0];
      if (!e || e.index !== 0) throw new Error(T("err_no_manifest"));
      if (!state.cp || !state.cp.valid) throw new Error(T("err_no_checkpoint"));
      const p = await api(board("/proof/inclusion?index=0&size=" + state.cp.size));
      await call("manifest_entry", { manifest: state.manifest, canonical: e.canonical, size: state.cp.size, root: state.cp.root, path: p.path });
    } catch (x) {
      state.firstError = x.message;
    }
  }

  // checkedLifecycle checks, once per election load, the lifecycle the
  // server lists against the entries at its positions, each proven in the
  // cosigned checkpoint's tree: the module's marks.
  async function checkedLifecycle() {
    if (state.lifecycle) return state.lifecycle;
    const listed = state.info.lifecycle || [];
    const cp = state.cp && state.cp.valid ? state.cp : { size: 0, root: "" };
    const fetched = await Promise.all(listed.map(async (m) => {
      const page = await api(board("/entries?start=" + m.index + "&limit=1"));
      const e = page.entries[0];
      const proof = m.index < cp.size ? await api(board("/proof/inclusion?index=" + m.index + "&size=" + cp.size)) : { path: [] };
      return { index: m.index, phase: m.phase, canonical: e && e.index === m.index ? e.canonical : "", path: proof.path };
    }));
    try {
      state.lifecycle = await call("lifecycle", { manifest: state.manifest, size: cp.size, root: cp.root, entries: fetched });
    } catch (x) {
      state.lifecycle = listed.map((m) => ({ phase: m.phase, index: m.index, at: 0, ok: false, error: x.message }));
    }
    return state.lifecycle;
  }

  // ---- views ----
  async function renderOverview() {
    const el = state.el, info = state.info;
    const a = clear($("authority"));
    if (el.authority.emblem) {
      const bytes = Uint8Array.from(atob(el.authority.emblem), (c) => c.charCodeAt(0));
      const url = URL.createObjectURL(new Blob([bytes], { type: el.authority.emblem_type }));
      a.append(h("img", { src: url, alt: "", class: "emblem" }));
    }
    a.append(h("div", {}, h("strong", { text: tx(el.authority.name) }), h("div", { class: "small", text: tx(el.authority.help) })));
    $("title").textContent = tx(el.title);

    $("fingerprint").textContent = el.fingerprint;
    $("fingerprint-hex").textContent = el.fingerprint_hex;
    compareFingerprint();
    $("announced").textContent = fmtTime(el.voting_start) + " — " + fmtTime(el.voting_end);
    // The lifecycle the server lists, checked by the module: the phase
    // shown is the last one whose entry is the authority's, in the
    // cosigned tree at its position; the times are the entries' own.
    if (state.firstError) fail(T("err_first_entry", state.firstError));
    const marks = await checkedLifecycle();
    const lc = clear($("lifecycle"));
    let phase = "";
    for (const m of marks) {
      if (m.ok) phase = m.phase;
      lc.append(h("tr", {}, h("td", { class: m.ok ? "" : "error", text: (m.ok ? "" : "✗ ") + T("phase_" + m.phase) + (m.ok ? "" : " — " + m.error) }),
        h("td", {}, h("a", { href: "#" + new URLSearchParams({ e: state.id, v: "board", at: m.index }), text: "#" + m.index })),
        h("td", { class: "nowrap", text: m.at ? fmtTime(m.at) : "—" })));
    }
    $("phase").textContent = phase ? T("phase_" + phase) : "—";
    document.body.dataset.lifecycle = marks.every((m) => m.ok) ? "checked" : "bad";
    $("threshold").textContent = T("threshold_text", el.threshold, el.trustees.length, el.mixes);
    const c = el.coercion;
    $("rules").textContent = c ? T("rules_deniable", num(c.slot_seconds), num(c.slot_rows), c.max_ballots - 1) : el.revote === "single" ? T("rules_single") : T("rules_last");
    const tb = clear($("trustees"));
    for (const t of el.trustees) tb.append(h("tr", {}, h("td", { text: t.index }), h("td", { text: t.name }), h("td", { class: "fp", text: short(t.key) })));
    $("quorum").textContent = T("quorum_text", el.quorum, el.witnesses.length);
    await loadCheckpoint();
    const cp = state.cp;
    const wb = clear($("witnesses"));
    for (const w of el.witnesses) {
      const c = cp && cp.cosigners.find((x) => x.name === w.name);
      wb.append(h("tr", {}, h("td", { text: w.name }), h("td", { class: c && c.signed ? "ok" : "error", text: c && c.signed ? "✓ " + fmtTime(c.time) : "✗" })));
    }
    const dl = clear($("checkpoint"));
    if (cp) {
      const kv = (k, v, cls) => { dl.append(h("dt", { text: T(k) }), h("dd", { class: cls || "", text: v })); };
      kv("size", num(cp.size));
      kv("time", fmtTime(cp.time));
      kv("root", cp.root, "fp small");
      kv("checkpoint_valid", cp.valid ? T("yes_valid") : T("no_invalid", cp.error), cp.valid ? "ok" : "error");
    }
  }

  function compareFingerprint() {
    const typed = $("fp-compare").value.trim().toUpperCase().replace(/[\s-]/g, "");
    const out = $("fp-result");
    if (!typed || !state.el) { out.textContent = ""; out.className = ""; return; }
    const mine = state.el.fingerprint.replace(/-/g, "");
    const ok = typed === mine || typed.toLowerCase() === state.el.fingerprint_hex;
    out.textContent = ok ? T("fp_match") : T("fp_mismatch");
    out.className = ok ? "ok" : "error";
    document.body.dataset.fingerprint = ok ? "match" : "mismatch";
  }

  // loadCheckpoint fetches the latest checkpoint and checks it against the
  // manifest's log key and witnesses; it remembers it (per log) so that
  // later visits prove the board only grew.
  async function loadCheckpoint() {
    const r = await fetch(cfg.api + board("/checkpoint/note"), { credentials: "omit" });
    if (!r.ok) { state.cp = null; return; }
    const note = await r.text();
    state.cp = await call("checkpoint", { manifest: state.manifest, note });
    state.cp.note = note;
    if (state.cp.valid) remember(state.cp);
  }
  const seenKey = () => "portal-cps-" + state.info.log;
  function seen() { try { return JSON.parse(localStorage.getItem(seenKey()) || "[]"); } catch (e) { return []; } }
  function remember(cp) {
    const list = seen().filter((c) => c.size !== cp.size);
    list.push({ size: cp.size, root: cp.root, time: cp.time });
    list.sort((a, b) => a.size - b.size);
    try { localStorage.setItem(seenKey(), JSON.stringify(list.slice(-20))); } catch (e) { /* private mode */ }
  }

  async function renderTurnout() {
    // Deniable re-voting (spec §15.4): every slot carries the same number
    // of rows, so nobody, the box included, publishes who voted or how
    // many before the close.
    const slotted = !!state.el.coercion;
    $("turnout-revote").hidden = !slotted;
    $("turnout-data").hidden = slotted;
    if (slotted) return;
    const t = await api("/elections/" + encodeURIComponent(state.id) + "/turnout");
    const rows = state.el.constituencies.map((c) => {
      let n = 0;
      for (const s of state.el.styles) if (s.constituency === c.id) n += t.by_style[s.id] || 0;
      return { name: tx(c.name), n };
    });
    $("turnout-total").textContent = num(t.ballots);
    $("turnout-time").textContent = "(" + fmtTime(Math.floor(Date.now() / 1000)) + ")";
    const max = Math.max(1, ...rows.map((r) => r.n));
    const chart = clear($("turnout-chart")), tb = clear($("turnout"));
    for (const r of rows) {
      chart.append(bar(r.name, r.n, max));
      tb.append(h("tr", {}, h("td", { text: r.name }), h("td", { class: "num", text: num(r.n) })));
    }
    if (t.phase === "open") state.timer = setInterval(() => { if (state.view === "turnout") renderTurnout().catch((e) => fail(e.message)); }, 15000);
  }

  function bar(label, n, max) {
    const fill = h("span", { class: "fill" });
    fill.style.width = ((100 * n) / max).toFixed(1) + "%"; // CSSOM: allowed by the style-src policy
    return h("div", { class: "bar" }, h("span", { class: "label", text: label }), h("span", { class: "track" }, fill), h("span", { class: "n", text: num(n) }));
  }

  // ---- board explorer ----
  async function renderBoard(r) {
    if (!state.cp) await loadCheckpoint();
    let start = state.boardStart;
    if (r && r.at !== null && r.at !== undefined && /^\d+$/.test(r.at)) start = Math.floor(+r.at / PAGE) * PAGE;
    await showPage(start, r && r.at !== null ? +r.at : -1);
    renderCheckpoints();
  }

  async function showPage(start, mark) {
    const size = state.info.size;
    start = Math.max(0, Math.min(start, Math.floor(Math.max(0, size - 1) / PAGE) * PAGE));
    state.boardStart = start;
    // The board cuts a page at its byte budget (§7.9): follow next until
    // the aligned page is whole.
    const page = await api(board("/entries?start=" + start + "&limit=" + PAGE));
    for (let more = page; more.next !== undefined && more.next < start + PAGE; ) {
      more = await api(board("/entries?start=" + more.next + "&limit=" + (start + PAGE - more.next)));
      page.entries.push(...more.entries);
    }
    const decoded = await call("entries", { manifest: state.manifest, entries: page.entries.map((e) => ({ index: e.index, canonical: e.canonical })) });
    $("board-range").textContent = T("range", num(start), num(start + page.entries.length - 1), num(page.size));
    $("board-prev").disabled = start === 0;
    $("board-next").disabled = start + PAGE >= page.size;
    const types = {};
    for (const d of decoded) types[d.type] = (types[d.type] || 0) + 1;
    $("board-types").textContent = Object.entries(types).map(([k, v]) => T("type_" + k) + " ×" + v).join(" · ");
    const ol = clear($("entries"));
    // Each entry's own bytes (the module decoded them in this order) are
    // what its inclusion proof is checked for.
    decoded.forEach((d, i) => ol.append(entryItem(d, d.index === mark, page.entries[i].canonical)));
    const m = ol.querySelector(".mark");
    if (m) m.scrollIntoView({ block: "center" });
  }

  // The order a decoded entry's fields are listed in: what identifies it
  // first, keys and hashes last.
  const FIELD_ORDER = ["tracking_code", "election", "fingerprint", "phase", "contest", "trustee", "target", "rows", "width", "proof_bytes",
    "values", "counted", "cancelled", "style", "contests", "pseudonym", "official", "station", "stations", "officials", "sequence",
    "added", "removed", "updated", "issuer", "keys", "trustees", "kind", "bytes", "time", "tracking_hex", "device_key", "joint_key", "extended_hash"];

  function entryItem(d, marked, canonical) {
    const li = h("li", { class: "entry" + (marked ? " mark" : ""), "data-index": d.index });
    const who = d.role === "trustee" ? T("role_trustee") + " " + d.who : T("role_" + (d.role || "unknown"));
    li.append(h("div", { class: "head" }, h("strong", { text: "#" + d.index + " " + T("type_" + d.type) }), " ", h("span", { class: "small", text: who })));
    if (d.error) li.append(h("p", { class: "error small", text: d.error }));
    const dl = h("dl", { class: "kv small" });
    const order = (k) => { const i = FIELD_ORDER.indexOf(k); return i < 0 ? FIELD_ORDER.length : i; };
    const fields = Object.entries(d.fields || {}).sort((a, b) => order(a[0]) - order(b[0]) || (a[0] < b[0] ? -1 : 1));
    for (const [k, v] of fields) {
      let val = v;
      if (k === "time") val = fmtTime(v);
      else if (k === "phase") val = T("phase_" + v);
      else if (k === "target") val = T("target_" + v);
      else if (typeof v === "number") val = num(v);
      else if (typeof v === "string" && /^[0-9a-f]{64}$/.test(v)) val = short(v);
      dl.append(h("dt", { text: T("f_" + k) }), h("dd", { class: k === "tracking_code" ? "fp" : "", text: val }));
    }
    dl.append(h("dt", { text: T("f_signature") }), h("dd", { class: d.signed_ok ? "ok" : "error", text: d.signed_ok ? "✓" : "✗" }));
    li.append(dl);
    const out = h("p", { class: "small proof", "aria-live": "polite" });
    li.append(h("button", { type: "button", class: "small-btn", text: T("prove_inclusion"), onclick: () => proveInclusion(d.index, canonical, out) }), out);
    return li;
  }

  async function proveInclusion(index, canonical, out) {
    out.textContent = "…";
    try {
      if (!state.cp || !state.cp.valid) throw new Error(T("err_no_checkpoint"));
      if (index >= state.cp.size) { out.textContent = T("not_yet_covered"); return; }
      const p = await api(board("/proof/inclusion?index=" + index + "&size=" + state.cp.size));
      const r = await call("inclusion", { canonical, index, size: state.cp.size, path: p.path, root: state.cp.root });
      out.textContent = r.ok ? T("inclusion_ok", num(state.cp.size), p.path.length) : T("inclusion_bad", r.error);
      out.className = "small proof " + (r.ok ? "ok" : "error");
    } catch (e) {
      out.textContent = e.message;
      out.className = "small proof error";
    }
  }

  function renderCheckpoints() {
    const ol = clear($("checkpoints"));
    const latest = state.cp;
    for (const c of seen().reverse()) {
      const out = h("span", { class: "small" });
      const li = h("li", { class: "entry" }, h("strong", { text: T("size") + " " + num(c.size) }), " ", h("span", { class: "small", text: fmtTime(c.time) }), " ");
      if (latest && c.size < latest.size) {
        li.append(h("button", { type: "button", class: "small-btn", text: T("prove_consistency"), onclick: () => proveConsistency(c, out) }), " ", out);
      } else if (latest && c.size === latest.size) {
        li.append(h("span", { class: c.root === latest.root ? "ok small" : "error small", text: c.root === latest.root ? T("latest") : T("fork") }));
      }
      ol.append(li);
    }
  }

  async function proveConsistency(c, out) {
    out.textContent = "…";
    try {
      const latest = state.cp;
      const p = await api(board("/proof/consistency?first=" + c.size + "&second=" + latest.size));
      const r = await call("consistency", { size: c.size, size2: latest.size, path: p.path, root: c.root, root2: latest.root });
      out.textContent = r.ok ? T("consistency_ok") : T("consistency_bad", r.error);
      out.className = r.ok ? "ok small" : "error small";
    } catch (e) {
      out.textContent = e.message;
      out.className = "error small";
    }
  }

  // ---- ballot lookup ----
  // In deniable re-voting mode a ballot is found by its receipt number,
  // not by its tracking code (spec §15.9).
  function renderBallotForm() {
    const rows = !!state.el.coercion;
    const label = $("ballot-code-label");
    label.dataset.i18n = rows ? "row_number" : "ballot_code";
    label.textContent = rows ? T("row_number") : T("ballot_code");
    $("ballot-code").placeholder = rows ? "ABCD-EFGH-…-WXY" : "ABCD-EFGH-…";
    $("ballot-help").hidden = !rows;
  }

  async function findBallot(code) {
    const out = clear($("ballot-out"));
    code = code.trim();
    if (!code) return;
    if (state.el.coercion) return findRow(code, out);
    const v = await api(board("/ballots/" + encodeURIComponent(code)), { allow404: true });
    if (!v) {
      out.append(h("p", { class: "error", text: T("ballot_not_found") }));
      document.body.dataset.ballot = "absent";
      return;
    }
    // The answer must be the ballot with the code typed: another voter's
    // ballot, truly on the board, is not the one looked up.
    const same = await call("ballot_code", { canonical: v.entry.canonical, number: code });
    if (!same.ok) {
      out.append(h("p", { class: "error", text: T("ballot_other", same.error) }));
      document.body.dataset.ballot = "other";
      return;
    }
    const [d] = await call("entries", { manifest: state.manifest, entries: [{ index: v.entry.index, canonical: v.entry.canonical }] });
    out.append(h("p", { class: "ok", text: T("ballot_found", num(d.index)) }));
    out.append(entryItem(d, false, v.entry.canonical));
    if (v.checkpoint && v.inclusion) {
      // The proof is checked for the entry shown: its leaf hash is the
      // module's, of these bytes at this position, and the tree's size
      // and root are the checkpoint's, checked against the anchors.
      const cp = await call("checkpoint", { manifest: state.manifest, note: v.checkpoint.note });
      const r = cp.valid ? await call("inclusion", { canonical: v.entry.canonical, index: v.entry.index, size: cp.size, path: v.inclusion.path, root: cp.root }) : { ok: false, error: cp.error };
      out.append(h("p", { class: r.ok ? "ok" : "error", text: r.ok ? T("inclusion_ok", num(cp.size), v.inclusion.path.length) : T("inclusion_bad", r.error) }));
      document.body.dataset.ballot = r.ok ? "included" : "bad";
    } else {
      out.append(h("p", { text: T("not_yet_covered") }));
      document.body.dataset.ballot = "pending";
    }
  }

  // Deniable re-voting mode (spec §15.9): a ballot is a row of a time
  // slot, found by its receipt number at the box; the module checks the
  // row in the slot entry fetched from the board, the checkpoint against
  // the manifest's anchors, and the entry's inclusion. Whether the row
  // was superseded or counted is not shown: no receipt can prove it.
  async function findRow(number, out) {
    let rc;
    try {
      rc = await call("receipt", { number });
    } catch (e) {
      out.append(h("p", { class: "error", text: T("row_bad_number") }));
      document.body.dataset.ballot = "bad-number";
      return;
    }
    const v = await api("/elections/" + encodeURIComponent(state.id) + "/revote/rows/" + rc.row_hash, { allow404: true });
    if (!v) {
      out.append(h("p", { class: "error", text: T("row_not_found") }));
      document.body.dataset.ballot = "absent";
      return;
    }
    if (v.status !== "published") {
      out.append(h("p", { text: T("row_queued") }));
      document.body.dataset.ballot = "queued";
      return;
    }
    const slot = await api(board("/entries?start=" + v.index + "&limit=1"));
    const e = slot.entries[0];
    if (!e || e.index !== v.index) throw new Error(T("row_no_entry", num(v.index)));
    const r = await call("row", {
      manifest: state.manifest, number: rc.receipt_number, index: v.index, slot: v.slot,
      style: v.ballot_style, position: v.position, canonical: e.canonical, note: v.checkpoint, proof: v.inclusion_proof || [],
    });
    const p = r.place;
    out.append(h("p", { class: "ok", text: T("row_found", num(p.slot), num(p.index), num(p.position + 1)) }));
    const dl = h("dl", { class: "kv small" });
    dl.append(h("dt", { text: T("row_number") }), h("dd", { class: "fp", text: p.receipt_number }));
    dl.append(h("dt", { text: T("f_tracking_code") }), h("dd", { class: "fp", text: p.tracking_code }));
    dl.append(h("dt", { text: T("f_style") }), h("dd", { text: p.style }));
    out.append(dl);
    out.append(h("p", { class: r.included ? "ok" : "error", text: r.included ? T("inclusion_ok", num(r.checkpoint.size), (v.inclusion_proof || []).length) : T("inclusion_bad", r.error) }));
    out.append(h("p", { class: "small", text: T("row_not_counted") }));
    document.body.dataset.ballot = r.included ? "included" : "bad";
  }

  // ---- results ----
  async function renderResults() {
    const box = clear($("results"));
    const mark = (state.info.lifecycle || []).find((m) => m.phase === "tallied");
    $("results-none").hidden = !!mark;
    $("results-csv").hidden = !mark;
    if (!mark) return;
    // The result is laid out from the entry's own bytes, signed by the
    // election authority, and shown with its inclusion in the latest
    // cosigned checkpoint: never from the server's JSON of it.
    if (!state.cp) await loadCheckpoint();
    const page = await api(board("/entries?start=" + mark.index + "&limit=1"));
    const e = page.entries[0];
    if (!e || e.index !== mark.index) throw new Error(T("err_no_result"));
    const cp = state.cp && state.cp.valid ? state.cp : { size: 0, root: "" };
    const proof = mark.index < cp.size ? await api(board("/proof/inclusion?index=" + mark.index + "&size=" + cp.size)) : { path: [] };
    let r;
    try {
      r = await call("result", { manifest: state.manifest, canonical: e.canonical, index: mark.index, size: cp.size, root: cp.root, path: proof.path, lang });
    } catch (x) {
      document.body.dataset.results = "bad";
      box.append(h("p", { class: "error", text: T("result_bad", x.message) }));
      $("results-csv").hidden = true;
      return;
    }
    document.body.dataset.results = r.included ? "included" : "pending";
    box.append(h("p", { class: r.included ? "ok small" : "small", text: r.included ? T("result_included", num(mark.index), num(cp.size)) : T("result_pending", num(mark.index)) }));
    const csv = $("results-csv");
    if (csv.href) URL.revokeObjectURL(csv.href);
    csv.href = URL.createObjectURL(new Blob([r.csv], { type: "text/csv;charset=utf-8" }));
    csv.download = state.id + "-results-" + lang + ".csv";
    const names = Object.fromEntries(state.el.constituencies.map((c) => [c.id, tx(c.name)]));
    for (const c of r.results.contests) {
      const sec = h("section", { class: "contest" });
      sec.append(h("h2", { text: tx(c.title) }));
      sec.append(h("p", { class: "small", text: T("constituencies") + ": " + c.constituencies.map((k) => names[k] || k).join(", ") + " · " + T("ballots_counted", num(c.ballots)) }));
      if (c.withheld) {
        sec.append(h("p", { class: "small", text: T("withheld") }));
        box.append(sec);
        continue;
      }
      const rows = c.rows.map((x) => ({ name: tx(x.name), n: x.votes }));
      if (c.blank !== undefined && c.blank !== null) rows.push({ name: T("blank"), n: c.blank });
      const max = Math.max(1, ...rows.map((x) => x.n));
      const chart = h("div", { class: "bars", role: "img", "aria-label": tx(c.title) });
      const tb = h("tbody");
      for (const x of rows) {
        chart.append(bar(x.name, x.n, max));
        tb.append(h("tr", {}, h("td", { text: x.name }), h("td", { class: "num", text: num(x.n) })));
      }
      sec.append(chart, h("table", { class: "grid" }, h("thead", {}, h("tr", {}, h("th", { text: T("candidate") }), h("th", { text: T("votes") }))), tb));
      box.append(sec);
    }
  }

  // ---- verification in the browser ----
  async function renderVerify() {
    $("module-hash").textContent = cfg.wasmSHA256;
    // A record before its result verifies only as an election in
    // progress; the observer can still untick it.
    // Partial unless the module checked the tally's entry in the lifecycle.
    if (state.info) $("verify-partial").checked = !(await checkedLifecycle()).some((m) => m.ok && m.phase === "tallied");
  }

  async function runVerify(fp) {
    const out = clear($("verify-out")), prog = clear($("verify-progress"));
    document.body.dataset.verify = "running";
    $("verify-run").disabled = true;
    const bars = {};
    const t0 = performance.now();
    try {
      const partial = $("verify-partial").checked;
      const res = await call("verify", { fingerprint: fp, partial, base: location.origin + cfg.api.replace(/\/api\/v1$/, "") }, (stage, done, total) => {
        let b = bars[stage];
        if (!b) {
          const p = h("progress", { max: "100", value: "0" });
          const pct = h("span", { class: "small" });
          prog.append(h("div", { class: "stage" }, h("span", { class: "label", text: T("stage_" + stage) }), p, pct));
          b = bars[stage] = { p, pct };
        }
        const v = total ? Math.round((100 * done) / total) : 100;
        b.p.value = v;
        b.pct.textContent = " " + num(done) + " / " + num(total);
      });
      for (const b of Object.values(bars)) b.p.value = 100;
      showReport(out, res, (performance.now() - t0) / 1000);
    } catch (e) {
      out.append(h("p", { class: "error", text: T("verify_error", e.message) }));
      document.body.dataset.verify = "error";
    } finally {
      $("verify-run").disabled = false;
    }
  }

  function showReport(out, res, seconds) {
    const r = res.report;
    const verdict = r.ok ? T("valid") : T("invalid", num(r.failure_count));
    out.append(h("p", { class: "verdict " + (r.ok ? "ok" : "error"), id: "verdict", text: verdict }));
    if (!r.ok && r.failures.length) {
      const f = r.failures[0];
      out.append(h("p", { class: "error", id: "first-failure", text: T("first_failure", f.check, f.entry >= 0 ? "#" + f.entry : "—", f.reason) }));
    }
    const c = r.counts;
    out.append(h("p", { class: "small", id: "verify-counts", text: T("counts_text", num(c.credentials), num(c.ballots), num(c.valid_ballots), num(c.counted_ballots), num(c.mixes), num(c.decryption_shares)) }));
    if (r.ok && r.result && r.result.length) {
      // The result the verifier recomputed from the decryption shares.
      const tb2 = h("tbody");
      for (const k of r.result) {
        tb2.append(h("tr", {}, h("td", {}, h("code", { text: k.contest })), h("td", { class: "num", text: num(k.ballots) }),
          h("td", { text: k.withheld ? T("withheld") : k.counts.map(num).join(" · ") })));
      }
      out.append(h("h2", { text: T("recomputed") }), h("table", { class: "grid", id: "recomputed" },
        h("thead", {}, h("tr", {}, h("th", { text: T("contest") }), h("th", { text: T("ballots") }), h("th", { text: T("counts") }))), tb2));
    }
    const tb = h("tbody");
    for (const k of r.checks) {
      const st = k.failures > 0 ? "FAIL" : k.items === 0 ? "-" : "ok";
      tb.append(h("tr", { class: k.failures > 0 ? "error" : "", "data-check": k.check }, h("td", { class: st === "ok" ? "ok" : "", text: st }),
        h("td", {}, h("code", { text: k.check }), h("div", { class: "small", text: k.title })), h("td", { class: "num", text: num(k.items) }), h("td", { class: "num", text: k.seconds.toFixed(2) + " s" })));
    }
    out.append(h("table", { class: "grid checks" }, h("thead", {}, h("tr", {}, h("th", {}), h("th", { text: T("check") }), h("th", { text: T("items") }), h("th", { text: T("time") }))), tb));
    out.append(h("p", { class: "small", text: T("verify_time", seconds.toFixed(1), res.download_seconds.toFixed(1), Math.round(res.sys / 1048576)) }));
    out.append(h("details", {}, h("summary", { text: T("report_text") }), h("pre", { id: "report-text", text: res.text })));
    document.body.dataset.verify = r.ok ? "valid" : "invalid";
    window.portalLastReport = { ok: r.ok, seconds, download: res.download_seconds, sys: res.sys, heap: res.heap_sys, first: r.failures[0] || null };
  }

  // ---- wiring ----
  document.addEventListener("DOMContentLoaded", async () => {
    for (const b of document.querySelectorAll("[data-lang]")) b.addEventListener("click", () => setLang(b.dataset.lang).then(render));
    $("fp-compare").addEventListener("input", compareFingerprint);
    $("board-prev").addEventListener("click", () => showPage(state.boardStart - PAGE, -1).catch((e) => fail(e.message)));
    $("board-next").addEventListener("click", () => showPage(state.boardStart + PAGE, -1).catch((e) => fail(e.message)));
    $("board-go").addEventListener("submit", (e) => {
      e.preventDefault();
      const v = $("board-pos").value.trim();
      if (/^\d+$/.test(v)) go("board", { at: v });
    });
    $("ballot-form").addEventListener("submit", (e) => { e.preventDefault(); findBallot($("ballot-code").value).catch((x) => fail(x.message)); });
    $("verify-form").addEventListener("submit", (e) => {
      e.preventDefault();
      const fp = $("verify-fp").value.trim();
      if (!fp) { fail(T("err_fp_needed")); return; }
      fail("");
      runVerify(fp);
    });
    window.addEventListener("hashchange", render);
    let l = new URLSearchParams(location.search).get("lang");
    try { l = l || localStorage.getItem("portal-lang"); } catch (e) { /* private mode */ }
    if (!l) l = (navigator.language || "en").slice(0, 2);
    await setLang(l);
    render();
  });
})();
