// The voting page (spec/14-web.md). This script only moves bytes between
// the network and the WebAssembly module (evoteCore, our Go packages): it
// never sees a ballot's randomness, and the voter's token lives in this
// closure only (never in web storage or cookies).
"use strict";
(function () {
  const me = document.currentScript;
  const wasmURL = me.dataset.wasm;
  const wasmIntegrity = me.dataset.wasmIntegrity;
  const wasmSize = Number(me.dataset.wasmSize) || 0;
  const langFiles = JSON.parse(me.dataset.langFiles);
  const LANGS = ["ky", "ru", "uz", "en"];

  // Session state, in memory only.
  let lang = "";
  let T = {};
  let info = null; // GET /elections/{id}; receipts are checked against the manifest's anchors, not its keys
  let election = null; // what the wasm checked from the board
  let token = ""; // the voting token: memory only
  let pseudonym = "";
  let style = "";
  let challenge = "";
  let selection = {};
  let contests = [];
  let trackingCode = "";
  let audited = false; // the prepared ballot was opened: it can never be cast
  // Deniable re-voting mode (spec chapter 15): the row's hash (the receipt
  // number) and when its publication slot ends. Nothing of the cast is
  // kept beyond this closure: no web storage, no address, no file.
  let rowHash = "";
  let waitUntil = 0;
  let coreReady = null; // the module: downloaded, checked, running
  let infoReady = null; // the election's info (no module needed)
  let setupReq = null; // the manifest and context entries, asked for with the info
  let ready = null; // the module running and the election checked
  const langCache = {};
  let langSeq = 0;

  const $ = (id) => document.getElementById(id);
  const t = (k) => T[k] || k;

  // Each view of the flow is a history entry ({view}), so the phone's Back
  // button moves inside the flow (popstate, below) instead of leaving it.
  function show(view, fromHistory) {
    if (!fromHistory) {
      const st = history.state;
      if (!st || !st.view) history.replaceState({ view }, "");
      else if (st.view !== view) history.pushState({ view }, "");
    }
    for (const s of document.querySelectorAll("main > section")) s.hidden = s.id !== "v-" + view;
    clearErrors();
    $("status").textContent = "";
    document.body.dataset.view = view;
    setTitle();
    const h = document.querySelector("#v-" + view + " h1");
    if (h) { h.tabIndex = -1; h.focus(); }
  }

  // The page's title names the step (the view's heading), so a screen
  // reader and the tab list say where the voter is.
  const TITLE = { lang: "choose_language", signin: "signin_title", ballot: "ballot_title", review: "review_title",
    audit: "audit_title", receipt: "receipt_title", check: "check_title", refused: "refused_title", wait: "revote_wait_title" };
  function setTitle() {
    let k = TITLE[document.body.dataset.view];
    if (k === "receipt_title" && election && election.coercion) k = "receipt_revote_title";
    document.title = (k ? t(k) + " — " : "") + t("page_title");
  }
  function status(key) { $("status").textContent = key ? t(key) : ""; }

  // CLDR plural forms: a "_count" string is "one:# попытка|few:…|other:…",
  // one form per category of the language (Intl.PluralRules).
  function plural(key, n) {
    const forms = {};
    for (const part of t(key).split("|")) {
      const i = part.indexOf(":");
      forms[part.slice(0, i)] = part.slice(i + 1);
    }
    const cat = new Intl.PluralRules(lang || "en").select(n);
    return (forms[cat] || forms.other || "").replace("#", new Intl.NumberFormat(lang || "en").format(n));
  }

  // A local date and time with the zone named.
  function localTime(unix) {
    return new Intl.DateTimeFormat(lang || "en", { year: "numeric", month: "short", day: "numeric", hour: "2-digit", minute: "2-digit", timeZoneName: "short" }).format(new Date(unix * 1000));
  }

  // perr is an error the page shows: a stable code (the APIs' or the
  // page's own, each translated as err_<code>) and what it needs: the
  // field it concerns, attempts left, seconds to wait, a detail.
  function perr(code, extra) {
    const e = new Error(code);
    e.code = code;
    return Object.assign(e, extra || {});
  }

  // The field an error code concerns, when it is on screen.
  const FIELD = {
    pin_format: "pin", doc_format: "doc", birth_missing: "birth", identity_not_confirmed: "pin", invalid_input: "pin",
    code_format: "code", wrong_code: "code", code_expired: "code", challenge_locked: "code", code_used: "code",
    pseudonym_format: "check-pseudonym", tracking_code_format: "check-code", not_found: "check-code", row_format: "check-row",
  };

  function errorText(err, code) {
    let msg = T["err_" + code] || t("err_unknown");
    if (typeof err.n === "number") msg = msg.replace("{n}", err.n);
    const add = (more) => { msg += (/[:.]$/.test(msg) ? " " : ". ") + more; };
    if (typeof err.attempts === "number") add(plural("attempts_left_count", err.attempts));
    if (typeof err.retry === "number" && err.retry > 0) add(plural("wait_seconds_count", err.retry));
    return msg;
  }

  let lastError = null; // the error on screen, shown again in a new language
  function clearErrors() {
    lastError = null;
    $("error").hidden = true;
    for (const p of document.querySelectorAll(".field-error")) p.remove();
    for (const el of document.querySelectorAll("[aria-invalid]")) {
      el.removeAttribute("aria-invalid");
      // Back to the field's own description (a contest's rule), if any.
      if (el.dataset.describedby) el.setAttribute("aria-describedby", el.dataset.describedby);
      else el.removeAttribute("aria-describedby");
    }
    delete document.body.dataset.error;
  }

  // fail shows err next to what caused it: under its field (aria-invalid,
  // aria-describedby), or after the control that was used (anchor); then
  // scrolls it into view. An unknown code gets the generic message, with
  // the code in small print for support.
  function fail(err, anchor) {
    if (!err) err = perr("unknown");
    const code = err.code || "unknown";
    if (!err.code && !err.detail) err.detail = String(err.message || err);
    clearErrors();
    $("status").textContent = "";
    const fid = err.field || FIELD[code];
    const field = fid && $(fid) && !$(fid).closest("[hidden]") ? $(fid) : null;
    let box = $("error");
    if (field) {
      box = document.createElement("p");
      box.id = fid + "-error";
      box.className = "error field-error";
      box.setAttribute("role", "alert");
      if (field.tagName === "FIELDSET") field.appendChild(box); else field.after(box);
      const targets = field.tagName === "FIELDSET" ? [field, ...field.querySelectorAll("input")] : [field];
      for (const el of targets) {
        el.setAttribute("aria-invalid", "true");
        el.setAttribute("aria-describedby", ((el.dataset.describedby || "") + " " + box.id).trim());
      }
    } else {
      const where = anchor || document.querySelector("main > section:not([hidden]) form:not([hidden])");
      if (where) where.after(box); else $("status").after(box);
    }
    // An error of a contest names it: the voter hears which one.
    const legend = field && field.tagName === "FIELDSET" ? field.querySelector("legend") : null;
    box.textContent = t("error") + ": " + (legend ? legend.textContent + ": " : "") + errorText(err, code);
    const small = [T["err_" + code] ? "" : code, err.detail || ""].filter(Boolean).join(": ");
    if (small) {
      const s = document.createElement("span");
      s.className = "small err-code";
      s.textContent = " (" + small + ")";
      box.appendChild(s);
    }
    box.hidden = false;
    box.scrollIntoView({ block: "center" });
    // Focus goes to what is wrong: the field (its error is its
    // description), or the message itself.
    if (field) (field.tagName === "FIELDSET" ? field.querySelector("input") : field).focus({ preventScroll: true });
    else { box.tabIndex = -1; box.focus({ preventScroll: true }); }
    document.body.dataset.error = code;
    lastError = [err, anchor];
  }

  // check turns a module failure into a page error: a check that does
  // not pass (kind "check_failed") or another failure of the module.
  function check(r, kind) {
    // A format error is the voter's: no module detail for it.
    if (r && r.error) throw perr(kind || "module_error", kind === "tracking_code_format" ? {} : { detail: r.error });
    return r;
  }

  // busy runs an action once at a time: its control is disabled (and
  // aria-busy) until the request ends, so a double tap sends one request.
  function busy(el, fn) {
    return async (ev) => {
      if (ev) ev.preventDefault();
      const btn = el.tagName === "FORM" ? el.querySelector('button[type="submit"]') : el;
      if (btn.disabled) return;
      btn.disabled = true;
      btn.setAttribute("aria-busy", "true");
      clearErrors();
      try { await fn(ev); } finally { btn.disabled = false; btn.removeAttribute("aria-busy"); }
    };
  }

  async function api(method, path, body, bearer) {
    const headers = { "Accept": "application/json" };
    if (body !== undefined) headers["Content-Type"] = "application/json";
    if (bearer) headers["Authorization"] = "Bearer " + bearer;
    let resp, text;
    try {
      resp = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body),
        credentials: "omit", cache: "no-store", referrerPolicy: "no-referrer" });
      text = await resp.text();
    } catch (e) { throw perr("network", { detail: String(e && e.message) }); }
    let data = null;
    try { data = text ? JSON.parse(text) : null; } catch (e) { data = null; }
    if (!resp.ok) {
      const d = (data && data.error) || {};
      throw perr(d.code || ("http_" + resp.status), { attempts: d.attempts_left, retry: d.retry_after_seconds });
    }
    return data;
  }

  // The route part of the hash ("" or "check") and its parameters.
  function hashParams() { return new URLSearchParams(location.hash.split("?")[1] || ""); }
  function hashRoute() { return location.hash.slice(1).split("?")[0]; }

  // The language is kept in the address (#…?l=ru), so a reload or a QR
  // link keeps it; nothing is stored on the phone.
  function keepLang() {
    const q = hashParams();
    if (q.get("l") === lang) return;
    q.set("l", lang);
    history.replaceState(history.state, "", "#" + hashRoute() + "?" + q.toString());
  }

  // fetchLang fetches a language file, trying again twice (after 1 and
  // 3 s) when the network or the server fails: on a slow, lossy mobile
  // connection one lost request must not leave the voter at the language
  // choice with nothing happening.
  async function fetchLang(l) {
    if (!langCache[l]) {
      const f = langFiles[l];
      const once = () => fetch(f.path, { integrity: f.integrity, credentials: "omit" }).then((resp) => {
        if (!resp.ok) throw perr("http_" + resp.status);
        return resp.json();
      });
      const wait = (ms) => new Promise((res) => setTimeout(res, ms));
      langCache[l] = once().catch(() => wait(1000).then(once)).catch(() => wait(2000).then(once));
      langCache[l].catch(() => { delete langCache[l]; });
    }
    return langCache[l];
  }

  async function setLang(l, keep) {
    if (!LANGS.includes(l)) return;
    const seq = ++langSeq;
    const tr = await fetchLang(l);
    if (seq !== langSeq) return; // a later choice won
    T = tr;
    lang = l;
    if (keep) keepLang();
    document.documentElement.lang = l;
    for (const el of document.querySelectorAll("[data-i18n]")) el.textContent = t(el.dataset.i18n);
    for (const b of document.querySelectorAll("#langs button")) b.setAttribute("aria-pressed", String(b.dataset.lang === l));
    setTitle();
    if (info) $("election-title").textContent = info.title[l] || info.title.en || "";
    showClientHash();
    if (style && contests.length && document.body.dataset.view === "ballot") {
      selection = readBallot(true); // as ticked, even over a maximum
      renderBallot();
    }
    redraw();
  }

  // redraw puts the texts the script wrote into the new language: the
  // phone the code went to, the review, the receipt's check and rule.
  let receiptText = null; // [key, {placeholder: value}]
  let checkText = null; // the check's result (a row, an audit), likewise
  // What an audit opens to ({ky, ru, uz, en: [line…]}), on the audit
  // screen and in the second device's check, redrawn on a language switch.
  let auditOpened = null, checkOpened = null;
  function fill(kv) {
    let txt = t(kv[0]);
    for (const [k, v] of Object.entries(kv[1])) txt = txt.replace("{" + k + "}", v);
    return txt;
  }
  function redraw() {
    if ($("code-sent").dataset.hint) $("code-sent").textContent = t("code_sent") + " " + $("code-sent").dataset.hint;
    else if ($("code-sent").dataset.unconfirmed) $("code-sent").textContent = t("code_sent_unconfirmed");
    if (style && window.evoteCore && document.body.dataset.ready === "yes") {
      try {
        contests = check(evoteCore.contests(style, lang)).contests;
        if (trackingCode) fillList($("review-list"), describe(selection));
      } catch (e) { /* the texts stay in the former language */ }
    }
    if (receiptText) $("receipt-check").textContent = fill(receiptText);
    if (checkText) $("check-result").textContent = fill(checkText);
    // What an audit opens to, as the module described it in each language.
    if (auditOpened && auditOpened[lang]) fillList($("audit-list"), auditOpened[lang]);
    if (checkOpened && checkOpened[lang]) fillList($("check-list"), checkOpened[lang]);
    if (election && !$("check-fingerprint").hidden) showCheckedAgainst();
    if (info) { showAuditLinks(); showReceiptLinks(); }
    if (waitUntil) $("wait-text").textContent = t("revote_wait_text").replace("{time}", clockTime(waitUntil));
    if (shareNote) shareStatus(shareNote);
    if (lastError) fail(lastError[0], lastError[1]);
    if (election && document.body.dataset.cast === "yes") $("revote-note").textContent = election.revote ? t("revote_allowed") : t("revote_not_allowed");
  }

  function setProgress(f) {
    const pct = Math.max(0, Math.min(100, Math.round(f * 100)));
    $("core-bar").value = pct;
    $("core-pct").textContent = pct + " %";
  }

  // The module is fetched after the page's shell, so that the shell is
  // usable at once on a slow link. Its bytes are read as they come (the
  // progress shown while a voter waits for it) and compiled only if their
  // SHA-384 is the integrity the page names, as fetch's own integrity
  // check would; without WebCrypto, fetch checks it (no progress then).
  async function downloadModule() {
    const subtle = window.crypto && crypto.subtle;
    if (!subtle || !window.ReadableStream) {
      const resp = await fetch(wasmURL, { integrity: wasmIntegrity, credentials: "omit" });
      if (!resp.ok) throw perr("http_" + resp.status);
      return new Uint8Array(await resp.arrayBuffer());
    }
    const resp = await fetch(wasmURL, { credentials: "omit" });
    if (!resp.ok || !resp.body) throw perr("http_" + resp.status);
    const reader = resp.body.getReader();
    const parts = [];
    let got = 0;
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      parts.push(value);
      got += value.length;
      if (wasmSize) setProgress(got / wasmSize);
    }
    const bytes = new Uint8Array(got);
    let off = 0;
    for (const p of parts) { bytes.set(p, off); off += p.length; }
    const d = new Uint8Array(await subtle.digest("SHA-384", bytes));
    if ("sha384-" + btoa(String.fromCharCode(...d)) !== wasmIntegrity) throw perr("module_integrity");
    return bytes;
  }

  function loadCore() {
    if (!coreReady) {
      coreReady = (async () => {
        const bytes = await downloadModule();
        const go = new Go();
        const started = new Promise((res) => window.addEventListener("evote-ready", res, { once: true }));
        const { instance } = await WebAssembly.instantiate(bytes, go.importObject);
        go.run(instance);
        await started;
        if (window.crypto && crypto.subtle) {
          const d = new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
          window.__wasmHash = Array.from(d, (x) => x.toString(16).padStart(2, "0")).join("");
        }
      })();
      coreReady.catch(() => { coreReady = null; }); // a later action retries
    }
    return coreReady;
  }

  // The election's info: no module needed, so the sign-in view names the
  // election at once.
  function loadInfo() {
    if (!infoReady) {
      infoReady = (async () => {
        const list = await api("GET", "/api/v1/elections");
        const want = hashParams().get("e");
        const pick = list.find((e) => e.election_id === want) || list.find((e) => e.phase === "open") || list[0];
        if (!pick) throw perr("no_election");
        // The setup entries are asked for at once, beside the info: one
        // round trip fewer on a slow line.
        setupReq = api("GET", "/api/v1/elections/" + encodeURIComponent(pick.election_id) + "/setup");
        setupReq.catch(() => {});
        info = await api("GET", "/api/v1/elections/" + encodeURIComponent(pick.election_id));
        if (lang) $("election-title").textContent = info.title[lang] || info.title.en || "";
      })();
      infoReady.catch(() => { infoReady = null; });
    }
    return infoReady;
  }

  // ensureReady starts (or restarts, after a failure) the module download
  // and the election's check; needCore waits for them, showing the
  // module's progress, when a step needs the module.
  function ensureReady() {
    if (!ready) {
      ready = loadElection().then(() => { document.body.dataset.ready = "yes"; window.__readyAt = performance.now(); });
      ready.catch(() => { ready = null; });
    }
    return ready;
  }
  async function needCore() {
    if (document.body.dataset.ready === "yes") return;
    $("core-wait").hidden = false;
    document.body.dataset.waited = "yes";
    try { await ensureReady(); } finally { $("core-wait").hidden = true; }
  }

  // The board's two setup entries, the manifest and the election context
  // (GET …/setup: those two only, not a page of the board); the wasm
  // checks both, the log they are on and the extended hash.
  async function loadElection() {
    const core = loadCore();
    await loadInfo();
    let setup;
    try { setup = await setupReq; } catch (e) { setup = null; }
    if (!setup) setup = await api("GET", "/api/v1/elections/" + encodeURIComponent(info.election_id) + "/setup");
    await core;
    if (setup.log !== info.log) throw perr("check_failed", { detail: "setup of another log" });
    const r = evoteCore.loadElection(info.origin, setup.entries.map((e) => e.canonical), lang || "en");
    if (r.error) throw perr("check_failed", { detail: r.error });
    election = r;
    // The mode's screens (CSS shows one set), from the manifest the module
    // checked, not from the server's election info.
    document.body.dataset.coercion = r.coercion ? "yes" : "no";
    $("election-title").textContent = info.title[lang] || info.title.en || election.title;
    showClientHash();
  }

  // The module's SHA-256 against the manifest's ClientHash (all zeros: the
  // election publishes none).
  function showClientHash() {
    if (election) {
      // On every page: the election's fingerprint (what the officials
      // publish) and the manifest's author, as the module checked them.
      $("fingerprint").textContent = election.fingerprint;
      $("election-id").hidden = false;
      showAuthority();
    }
    const hash = window.__wasmHash;
    if (!hash || !election) return;
    let state = hash === election.client_hash ? "match" : "differs";
    if (/^0+$/.test(election.client_hash)) state = "none";
    const key = { match: "client_hash_ok", differs: "client_hash_differs", none: "client_hash_none" }[state];
    $("client-hash").textContent = t(key) + " " + hash.slice(0, 16) + "…";
    document.body.dataset.clientHash = state;
  }

  // Whose election and where to get help, on every page, in the chosen
  // language: from the manifest the module checked (under the
  // fingerprint). The emblem is drawn from those bytes through a blob: URL
  // that only this script can mint; an SVG in an <img> runs no script.
  function showAuthority() {
    const pick = (tx) => (tx && (tx[lang] || tx.en)) || "";
    $("authority-name").textContent = pick(election.authority_name);
    $("authority-help").textContent = pick(election.authority_help);
    $("authority-help").hidden = !$("authority-help").textContent;
    if (election.emblem && election.emblem_type && !$("emblem").getAttribute("src")) {
      const raw = Uint8Array.from(atob(election.emblem.replace(/-/g, "+").replace(/_/g, "/")), (ch) => ch.charCodeAt(0));
      $("emblem").src = URL.createObjectURL(new Blob([raw], { type: election.emblem_type }));
      $("emblem").hidden = false;
    }
    $("authority-band").hidden = !$("authority-name").textContent;
  }

  // The code's form after a start or a resend: the phone it went to, and
  // the resend button, disabled with its wait counted down.
  let resendTimer = 0;
  function codeSent(ch) {
    challenge = ch.challenge_id;
    if (ch.unconfirmed || !ch.phone_hint) {
      // The identity service does not say whether the details matched
      // (spec §8.11.3): a code is on its way only if they did.
      $("code-sent").textContent = t("code_sent_unconfirmed");
      delete $("code-sent").dataset.hint;
      $("code-sent").dataset.unconfirmed = "yes";
    } else {
      $("code-sent").textContent = t("code_sent") + " " + ch.phone_hint;
      $("code-sent").dataset.hint = ch.phone_hint;
      delete $("code-sent").dataset.unconfirmed;
    }
    $("f-start").hidden = true;
    $("f-code").hidden = false;
    clearInterval(resendTimer);
    const until = Date.now() + (ch.resend_after_seconds || 0) * 1000;
    const tick = () => {
      const left = Math.ceil((until - Date.now()) / 1000);
      const b = $("b-resend");
      if (left > 0) {
        b.disabled = true;
        b.textContent = t("resend") + " (" + plural("wait_seconds_count", left) + ")";
      } else {
        clearInterval(resendTimer);
        b.disabled = false;
        b.textContent = t("resend");
      }
    };
    tick();
    resendTimer = setInterval(tick, 1000);
  }

  async function startSignIn() {
    const pin = $("pin").value.trim(), doc = $("doc").value.replace(/\s/g, "").toUpperCase(), birth = $("birth").value;
    if (!/^[0-9]{14}$/.test(pin)) return fail(perr("pin_format"));
    if (!/^[A-Z]{2}[0-9]{7}$/.test(doc)) return fail(perr("doc_format"));
    if (!birth) return fail(perr("birth_missing"));
    status("sending");
    try {
      codeSent(await api("POST", "/idp/v1/auth/start", { pin, document_number: doc, birth_date: birth, lang }));
      status("");
      $("code").focus();
    } catch (e) { fail(e); }
  }

  async function resendCode() {
    status("sending");
    try {
      codeSent(await api("POST", "/idp/v1/auth/resend", { challenge_id: challenge }));
      status("code_resent");
      $("code").value = "";
      $("code").focus();
    } catch (e) { fail(e, $("b-resend")); }
  }

  // Start again: back to the first form, keeping what was typed.
  function restartSignIn() {
    clearInterval(resendTimer);
    challenge = "";
    $("f-code").hidden = true;
    $("f-start").hidden = false;
    clearErrors();
    $("pin").focus();
  }

  async function finishSignIn() {
    const code = $("code").value.trim();
    if (!/^[0-9]{6}$/.test(code)) return fail(perr("code_format"));
    try {
      await needCore();
      status("signing_in");
      const dev = check(evoteCore.newDevice());
      const tok = await api("POST", "/idp/v1/auth/verify", { challenge_id: challenge, code, device_key: dev.device_key });
      if (election.coercion) {
        // The credential answered with the token is checked before
        // anything else (spec §15.16.1): signed by the manifest's identity
        // key, for this device, opening with s to this voter. The module
        // forgets s; so does this script. If it fails, nothing is cast.
        const cr = evoteCore.checkCredential(tok);
        tok.revote_s = "";
        if (cr.error) return refuse(cr.error);
      }
      token = tok.token;
      // In deniable re-voting mode the pseudonym is of no use after the
      // check: the device keeps nothing that names the voter.
      pseudonym = election.coercion ? "" : tok.pseudonym;
      style = tok.ballot_style;
      contests = check(evoteCore.contests(style, lang)).contests;
      selection = {};
      renderBallot();
      show("ballot");
    } catch (e) { fail(e); }
  }

  // refuse ends the session when the credential does not check: a screen
  // that says not to vote on this phone, and no token to cast with.
  function refuse(detail) {
    token = "";
    style = "";
    document.body.dataset.refused = "yes";
    $("refused-detail").textContent = detail;
    show("refused");
  }

  function renderBallot() {
    contests = check(evoteCore.contests(style, lang)).contests;
    const root = $("contests");
    root.textContent = "";
    contests.forEach((c, ci) => {
      const fs = document.createElement("fieldset");
      fs.id = "contest-" + ci;
      const lg = document.createElement("legend");
      lg.textContent = c.title;
      fs.appendChild(lg);
      const hint = document.createElement("p");
      hint.className = "small";
      // The contest's rule is its group's description.
      hint.id = "contest-" + ci + "-rule";
      fs.dataset.describedby = hint.id;
      fs.setAttribute("aria-describedby", hint.id);
      hint.textContent = c.multi ? plural("choose_up_to_count", c.max) : t("choose_one");
      fs.appendChild(hint);
      const chosen = selection[c.id] || [];
      const opts = c.candidates.map((name, i) => [name, i]);
      if (!c.multi) opts.push([t("blank"), -1]);
      for (const [name, i] of opts) {
        const id = "c" + ci + "-" + (i < 0 ? "blank" : i);
        const row = document.createElement("div");
        row.className = "choice";
        const inp = document.createElement("input");
        inp.type = c.multi ? "checkbox" : "radio";
        inp.name = "contest-" + ci;
        inp.id = id;
        inp.value = String(i);
        inp.dataset.contest = c.id;
        inp.checked = i < 0 ? (!c.multi && chosen.length === 0 && selection[c.id] !== undefined) : chosen.includes(i);
        const lab = document.createElement("label");
        lab.htmlFor = id;
        lab.textContent = name;
        row.append(inp, lab);
        fs.appendChild(row);
      }
      root.appendChild(fs);
    });
  }

  function readBallot(asTicked) {
    const sel = {};
    for (const [ci, c] of contests.entries()) {
      const picked = [...document.querySelectorAll('input[data-contest="' + CSS.escape(c.id) + '"]:checked')]
        .map((x) => Number(x.value)).filter((i) => i >= 0);
      if (!asTicked && c.multi && picked.length > c.max) throw perr("too_many", { field: "contest-" + ci, n: c.max });
      sel[c.id] = picked;
    }
    return sel;
  }

  function describe(sel) {
    return contests.map((c) => {
      const names = (sel[c.id] || []).map((i) => c.candidates[i]);
      return c.title + ": " + (names.length ? names.join(", ") : t("blank"));
    });
  }

  function fillList(ul, lines) {
    ul.textContent = "";
    for (const l of lines) { const li = document.createElement("li"); li.textContent = l; ul.appendChild(li); }
  }

  // The links to the check view (QR code and in full, to copy or share:
  // the check needs nothing else) carry the page's language; a language
  // switch redraws them.
  let auditCode = "", castCode = "";
  function checkURL(params) {
    return location.origin + "/#check?e=" + encodeURIComponent(info.election_id) + params + "&l=" + lang;
  }
  function showAuditLinks() {
    if (!auditCode) return;
    $("audit-cmd").textContent = "evote ballot check-audit --server " + location.origin + " --election " + info.election_id +
      " --code " + auditCode + " --lang " + lang;
    // Deniable re-voting mode: no QR code (the browser would cache its
    // image), no link (history) and no file: the phone keeps nothing.
    if (election && election.coercion) return;
    const url = checkURL("&c=" + auditCode);
    $("audit-qr").src = "/qr.svg?d=" + encodeURIComponent(url);
    $("audit-link").href = url;
    $("audit-link").textContent = url;
    $("audit-qr").alt = t("audit_qr_alt") + " " + auditCode;
  }
  function showReceiptLinks() {
    if (!castCode) return;
    const url = checkURL("&p=" + pseudonym + "&c=" + castCode);
    $("receipt-qr").src = "/qr.svg?d=" + encodeURIComponent(url);
    $("receipt-link").href = url;
    $("receipt-link").textContent = url;
    $("receipt-qr").alt = t("qr_alt") + " " + castCode;
  }

  // The receipt shared with the phone's share sheet (Web Share): the saved
  // file where the browser can share files, with a line of text and the
  // check link; where the browser cannot share, the same text copied;
  // with neither, the buttons stay hidden and the file and link above
  // remain. The receipt says nothing of the choices.
  let receiptJSON = null;
  let shareNote = null; // the key of the last share or copy outcome
  function shareText() {
    return t("receipt_share_text").replace("{code}", castCode) + "\n" + $("receipt-link").href;
  }
  function showShare() {
    const share = typeof navigator.share === "function";
    $("b-share").hidden = !share;
    $("b-copy").hidden = share || !(navigator.clipboard && typeof navigator.clipboard.writeText === "function");
  }
  function shareStatus(key) {
    shareNote = key;
    $("share-status").textContent = key ? t(key) : "";
  }
  async function shareReceipt() {
    shareStatus(null);
    const data = { title: t("receipt_title"), text: shareText() };
    const file = new File([receiptJSON], $("receipt-file").download, { type: "application/json" });
    if (typeof navigator.canShare === "function" && navigator.canShare({ files: [file] })) data.files = [file];
    else data.url = $("receipt-link").href;
    try {
      await navigator.share(data);
      shareStatus("receipt_shared");
    } catch (e) {
      // The voter closing the share sheet is no failure.
      if (!(e && e.name === "AbortError")) shareStatus("receipt_share_failed");
    }
  }
  async function copyReceipt() {
    shareStatus(null);
    try {
      await navigator.clipboard.writeText(shareText());
      shareStatus("receipt_copied");
    } catch (e) {
      shareStatus("receipt_copy_failed");
    }
  }

  // Encryption yields to the browser first so the status is painted.
  function prepare() {
    status("encrypting");
    return new Promise((res, rej) => setTimeout(() => {
      try {
        const t0 = performance.now();
        const r = check(evoteCore.prepare(selection));
        window.__encryptMs = performance.now() - t0;
        trackingCode = r.tracking_code;
        audited = false;
        $("review-code").textContent = trackingCode;
        fillList($("review-list"), describe(selection));
        document.body.dataset.prepared = "yes";
        status("");
        res();
      } catch (e) { rej(e); }
    }, 0));
  }

  async function review(ev) {
    ev.preventDefault();
    try {
      selection = readBallot();
      show("review");
      document.body.dataset.prepared = "no";
      await prepare();
    } catch (e) { fail(e); }
  }

  // The opening and the prepared ballot go to the ballot box, which keeps
  // them in its pool and publishes the opening later, in a shuffled batch
  // (spec §9.4); a second device checks it at once by the tracking code.
  // In deniable re-voting mode the prepared ballot is the prepared row and
  // the opening opens its flag too (spec §15.9); the token stays for the
  // fresh row, which the voter prepares from the audit screen.
  async function doAudit() {
    status("auditing");
    try {
      const r = check(evoteCore.audit(lang));
      audited = true;
      const a = await api("POST", "/api/v1/elections/" + encodeURIComponent(info.election_id) + "/audits", { audited: r.audited, ballot: r.ballot }, token);
      $("audit-code").textContent = trackingCode;
      auditOpened = r.opened_in;
      fillList($("audit-list"), auditOpened[lang] || r.opened);
      auditCode = trackingCode;
      showAuditLinks();
      if (!election.coercion) {
        const raw = Uint8Array.from(atob(r.ballot.replace(/-/g, "+").replace(/_/g, "/")), (ch) => ch.charCodeAt(0));
        $("audit-file").href = URL.createObjectURL(new Blob([raw], { type: "application/octet-stream" }));
      }
      document.body.dataset.audit = a.status;
      show("audit");
    } catch (e) { fail(e, $("b-cast").parentElement); }
  }

  async function fresh() {
    show("review");
    document.body.dataset.prepared = "no";
    try { await prepare(); } catch (e) { fail(e, $("b-cast").parentElement); }
  }

  // The receipt number a voter reads and types: the row's hash (base64url
  // for the box and the module) in base32 (RFC 4648, 52 characters), in
  // groups of four like the tracking code: no case to get wrong, no 0/O
  // or 1/l to confuse.
  const B32 = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
  function receiptNumber(h64) {
    const b = Uint8Array.from(atob(h64.replace(/-/g, "+").replace(/_/g, "/")), (ch) => ch.charCodeAt(0));
    let bits = 0, val = 0, out = "";
    for (const x of b) {
      val = ((val << 8) | x) & 0xffff;
      bits += 8;
      while (bits >= 5) { out += B32[(val >>> (bits - 5)) & 31]; bits -= 5; }
    }
    if (bits > 0) out += B32[(val << (5 - bits)) & 31];
    return out.match(/.{1,4}/g).join("-");
  }
  // parseReceiptNumber reads a receipt number as typed (any case, dashes
  // and spaces ignored) and returns the row's hash in base64url, or "".
  function parseReceiptNumber(s) {
    s = s.replace(/[\s-]/g, "").toUpperCase();
    if (!/^[A-Z2-7]{52}$/.test(s)) return "";
    let bits = 0, val = 0;
    const out = [];
    for (const c of s) {
      val = ((val << 5) | B32.indexOf(c)) & 0xffff;
      bits += 5;
      if (bits >= 8) { out.push((val >>> (bits - 8)) & 255); bits -= 8; }
    }
    if (val & ((1 << bits) - 1)) return ""; // the 4 bits past 256 are zero
    return btoa(String.fromCharCode(...out)).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }

  // A time of day with seconds (a publication slot can be 10 s long).
  function clockTime(unix) {
    return new Intl.DateTimeFormat(lang || "en", { hour: "2-digit", minute: "2-digit", second: "2-digit" }).format(new Date(unix * 1000));
  }

  // The end of the publication slot after now (spec §15.4: slots of
  // slot_seconds from voting_start).
  function nextSlotEnd() {
    const now = Date.now() / 1000, len = election.slot_seconds, start = election.voting_start;
    return start + Math.max(1, Math.ceil((now - start) / len)) * len;
  }

  // Deniable re-voting mode: the module makes the row (the checked
  // credential, the ballot, the flag and its proof, the device's
  // signature) and forgets the device key; the box queues it until its
  // publication slot; the page polls the row's receipt for at most one
  // slot (and the cosigning), then checks it against the board.
  async function doCastRow() {
    status("casting");
    try {
      const r = check(evoteCore.castRow());
      const id = encodeURIComponent(info.election_id);
      let rc = await api("POST", "/api/v1/elections/" + id + "/revote/rows", { row: r.row }, token);
      token = ""; // the token casts nothing more
      selection = {};
      rowHash = r.row_hash;
      document.body.dataset.cast = "yes";
      $("wait-code").textContent = trackingCode;
      $("wait-row").textContent = receiptNumber(rowHash);
      waitUntil = nextSlotEnd();
      $("wait-text").textContent = t("revote_wait_text").replace("{time}", clockTime(waitUntil));
      show("wait");
      const deadline = Date.now() + (election.slot_seconds + 30) * 1000;
      while (!(rc.status === "published" && rc.witnessed !== false)) {
        if (Date.now() > deadline) throw perr("revote_not_published");
        await new Promise((res) => setTimeout(res, 2000));
        // A lost answer is asked again until the deadline: the row is
        // stored at the box already.
        try { rc = await api("GET", "/api/v1/elections/" + id + "/revote/rows/" + encodeURIComponent(rowHash)); } catch (e) {
          if (e.code !== "network") throw e;
        }
      }
      const page = await api("GET", "/api/v1/board/" + info.log + "/entries?start=" + rc.index + "&limit=1");
      const ok = check(evoteCore.checkRowReceipt(rc, page.entries[0].canonical), "check_failed");
      waitUntil = 0;
      $("receipt-code").textContent = ok.tracking_code;
      $("receipt-row").textContent = receiptNumber(rowHash);
      // Publications are numbered from 1 for the voter (slot 0 on the
      // board is the first).
      receiptText = ["receipt_revote_proves", { slot: ok.slot + 1, index: ok.index, w: ok.witnesses }];
      document.body.dataset.published = "yes";
      redraw();
      show("receipt");
    } catch (e) {
      if (document.body.dataset.view === "wait") fail(e, $("wait-row"));
      else fail(e, $("b-cast").parentElement);
    }
  }

  async function doCast() {
    if (election && election.coercion) return doCastRow();
    status("casting");
    try {
      const r = check(evoteCore.cast());
      const rc = await api("POST", "/api/v1/elections/" + encodeURIComponent(info.election_id) + "/ballots", { entry: r.entry }, token);
      $("receipt-code").textContent = trackingCode;
      $("receipt-pseudonym").textContent = pseudonym;
      if (rc.witnessed === false) {
        // A witness was down: the ballot is on the board, and the check by
        // tracking code later finds a checkpoint with the witness quorum.
        receiptText = ["receipt_pending_witness", { index: rc.index }];
      } else {
        const ok = check(evoteCore.checkReceipt(rc), "check_failed");
        receiptText = ["receipt_checked", { index: rc.index, size: ok.size, w: ok.witnesses }];
      }
      castCode = trackingCode;
      // The receipt as a small file, in the format of "evote vote --save"
      // (for evote ballot check-receipt): the entry as cast and the box's
      // receipt (tracking code, pseudonym, index, checkpoint, proof).
      const saved = { election_id: info.election_id, entry: r.entry, receipt: Object.assign({ pseudonym }, rc) };
      receiptJSON = JSON.stringify(saved, null, 1);
      $("receipt-file").href = URL.createObjectURL(new Blob([receiptJSON], { type: "application/json" }));
      $("receipt-file").download = "receipt-" + trackingCode.slice(0, 9) + ".json";
      showShare();
      document.body.dataset.cast = "yes";
      redraw();
      show("receipt");
    } catch (e) { fail(e, $("b-cast").parentElement); }
  }

  // What a check result rests on: the manifest with this fingerprint (its
  // log key and witness quorum), to compare with the officials' publication.
  function showCheckedAgainst() {
    $("check-fingerprint").textContent = t("checked_against").replace("{fp}", election.fingerprint);
    $("check-fingerprint").hidden = false;
  }

  function openCheck(fromHistory) {
    $("check-fingerprint").hidden = true;
    const q = new URLSearchParams(location.hash.split("?")[1] || "");
    $("check-row").value = q.get("r") || (rowHash ? receiptNumber(rowHash) : "");
    $("check-pseudonym").value = q.get("p") || (q.get("c") ? "" : pseudonym) || "";
    // In deniable re-voting mode the code field is for a test ballot's
    // code only (the row is checked by its receipt number).
    $("check-code").value = q.get("c") || (election && election.coercion ? "" : trackingCode) || "";
    show("check", fromHistory);
  }

  // The second device's check of an audited ballot, from the tracking code
  // alone: the ballot box serves the audit, pending or published, and the
  // wasm checks all of it (the ballot's code, the authority's signature,
  // the opening, and once published the inclusion proof).
  async function doAuditCheck(code) {
    status("checking");
    try {
      const a = await api("GET", "/api/v1/elections/" + encodeURIComponent(info.election_id) + "/audits/" + encodeURIComponent(code));
      const r = check(evoteCore.checkAudit(a, code, lang), "check_failed");
      checkText = [r.published ? "check_audit_published" : "check_audit_pending", { code: r.tracking_code, index: r.index }];
      $("check-result").textContent = fill(checkText);
      $("check-result").className = "ok";
      checkOpened = r.opened_in;
      fillList($("check-list"), checkOpened[lang] || r.opened);
      showCheckedAgainst();
      document.body.dataset.checked = r.published ? "audit-published" : "audit-pending";
      status("");
    } catch (e) { fail(e); }
  }

  async function doCheck(ev) {
    if (ev) ev.preventDefault();
    // A new check: the last result goes, so that no stale result stands
    // beside a new error.
    $("check-result").textContent = "";
    $("check-list").textContent = "";
    $("check-fingerprint").hidden = true;
    checkText = null;
    checkOpened = null;
    delete document.body.dataset.checked;
    try { await needCore(); } catch (e) { return fail(e); }
    // A mistyped tracking code is the voter's error, shown at its field.
    let want = "";
    if ($("check-code").value.trim() && !(election.coercion && $("check-row").value.trim())) {
      try { want = check(evoteCore.parseCode($("check-code").value), "tracking_code_format").tracking_code; } catch (e) { return fail(e); }
    }
    // Deniable re-voting mode: a row by its receipt number, or with the
    // receipt number empty a test ballot by its tracking code.
    if (election.coercion) return want ? doAuditCheck(want) : doRowCheck();
    const p = $("check-pseudonym").value.trim().toLowerCase();
    if (!p && want) return doAuditCheck(want);
    if (!/^[0-9a-f]{64}$/.test(p)) return fail(perr("pseudonym_format"));
    status("checking");
    try {
      const id = encodeURIComponent(info.election_id);
      const v = await api("GET", "/api/v1/elections/" + id + "/voters/" + p);
      const cp = await api("GET", "/api/v1/elections/" + id + "/checkpoint");
      const idx = v.credentials.map((c) => c.index).concat(v.ballots.map((b) => b.index)).sort((a, b) => a - b);
      const lines = [];
      let found = false;
      for (const i of idx) {
        const page = await api("GET", "/api/v1/board/" + info.log + "/entries?start=" + i + "&limit=1");
        const proof = await api("GET", "/api/v1/board/" + info.log + "/proof/inclusion?index=" + i + "&size=" + cp.size);
        const it = check(evoteCore.checkEntry(page.entries[0].canonical, p, { index: i, checkpoint: cp.note, inclusion_proof: proof.path }), "check_failed");
        const mine = it.mine ? " (" + t("this_device") + ")" : "";
        if (it.kind === "ballot") {
          const hit = want && it.tracking_code === want;
          found = found || hit;
          lines.push(t("item_ballot").replace("{i}", it.index) + " " + it.tracking_code + mine + (hit ? " ✓" : ""));
        } else {
          lines.push(t("item_credential").replace("{i}", it.index).replace("{t}", localTime(it.issued_at)) + " " + it.device_key + mine);
        }
      }
      if (v.in_person !== undefined && v.in_person !== null) lines.push(t("item_in_person").replace("{i}", v.in_person));
      fillList($("check-list"), lines);
      $("check-result").textContent = (want ? (found ? t("check_found") : t("check_not_found")) + " " : "") +
        plural("check_summary_count", idx.length).replace("{size}", cp.size);
      $("check-result").className = want && !found ? "error" : "ok";
      showCheckedAgainst();
      document.body.dataset.checked = want ? (found ? "found" : "missing") : "listed";
      status("");
    } catch (e) { fail(e); }
  }

  // "Check my ballot" in deniable re-voting mode, by receipt number (the
  // row's hash): the box's receipt and the slot entry from the board,
  // checked by the module against the manifest's anchors. It shows where
  // the row is on the board, never whether it was superseded or counted
  // (spec §15.9).
  async function doRowCheck() {
    const h = parseReceiptNumber($("check-row").value);
    if (!h) return fail(perr("row_format"));
    status("checking");
    try {
      const id = encodeURIComponent(info.election_id);
      const rc = await api("GET", "/api/v1/elections/" + id + "/revote/rows/" + encodeURIComponent(h));
      if (rc.status !== "published" || rc.witnessed === false) {
        checkText = ["err_revote_not_published", {}];
        $("check-result").textContent = fill(checkText);
        $("check-result").className = "ok";
        document.body.dataset.checked = "row-queued";
        status("");
        return;
      }
      const page = await api("GET", "/api/v1/board/" + info.log + "/entries?start=" + rc.index + "&limit=1");
      const r = check(evoteCore.checkRow(h, rc, page.entries[0].canonical), "check_failed");
      checkText = ["check_revote_found", { slot: r.slot + 1, index: r.index, code: r.tracking_code }];
      $("check-result").textContent = fill(checkText);
      $("check-result").className = "ok";
      showCheckedAgainst();
      document.body.dataset.checked = "row";
      status("");
    } catch (e) { fail(e); }
  }

  async function route() {
    if (lang) keepLang();
    if (location.hash.startsWith("#check")) {
      openCheck();
      if ($("check-pseudonym").value || $("check-code").value || $("check-row").value) await doCheck();
      return;
    }
    if (!token) show("signin");
  }

  // Back inside the flow. What was done stays done: after a cast, the
  // receipt; once signed in, the ballot with its choices (never the
  // sign-in again); a ballot opened by the encryption test is never shown
  // as castable: going back to the review prepares a fresh one (its new
  // tracking code shown).
  function goBack(view) {
    let to = view;
    // A refused credential stays refused; a row sent waits for its slot.
    if (document.body.dataset.refused === "yes" && view !== "check") to = "refused";
    else if (document.body.dataset.cast === "yes" && election && election.coercion && view !== "check") to = document.body.dataset.published === "yes" ? "receipt" : "wait";
    else if (document.body.dataset.cast === "yes" && ["lang", "signin", "ballot", "review", "audit"].includes(view)) to = "receipt";
    else if (token && (view === "lang" || view === "signin")) to = "ballot";
    else if (!token && ["ballot", "review", "audit", "receipt"].includes(view)) to = "signin";
    if (to !== view) history.replaceState({ view: to }, "");
    if (to === "ballot") {
      renderBallot();
      show("ballot", true);
      if (view === "ballot" && document.body.dataset.prepared === "yes") status("back_kept");
      return;
    }
    if (to === "review" && audited) {
      show("review", true);
      document.body.dataset.prepared = "no";
      prepare().catch((e) => fail(e));
      return;
    }
    if (to === "check") { openCheck(true); return; }
    show(to, true);
  }

  async function boot() {
    window.addEventListener("popstate", (ev) => {
      if (ev.state && ev.state.view && lang) goBack(ev.state.view);
    });
    // Leaving (or reloading) while signed in and not yet cast would lose
    // the session: the browser asks first.
    window.addEventListener("beforeunload", (ev) => {
      if (token && document.body.dataset.cast !== "yes") ev.preventDefault();
    });
    for (const b of document.querySelectorAll("[data-lang]")) {
      b.addEventListener("click", async () => {
        try {
          await setLang(b.dataset.lang, true);
          if (document.body.dataset.view === "lang") await route();
        } catch (e) { fail(e); }
      });
    }
    $("f-start").addEventListener("submit", busy($("f-start"), startSignIn));
    $("f-code").addEventListener("submit", busy($("f-code"), finishSignIn));
    $("b-resend").addEventListener("click", busy($("b-resend"), resendCode));
    $("b-restart").addEventListener("click", restartSignIn);
    $("f-ballot").addEventListener("submit", busy($("f-ballot"), review));
    $("b-cast").addEventListener("click", busy($("b-cast"), doCast));
    $("b-audit").addEventListener("click", busy($("b-audit"), doAudit));
    $("b-change").addEventListener("click", () => { renderBallot(); show("ballot"); });
    $("b-fresh").addEventListener("click", busy($("b-fresh"), fresh));
    $("b-share").addEventListener("click", busy($("b-share"), shareReceipt));
    $("b-copy").addEventListener("click", busy($("b-copy"), copyReceipt));
    // The check's address names what it checks, so a reload checks again.
    $("b-check").addEventListener("click", () => {
      // In deniable re-voting mode the receipt number stays out of the
      // address (and so out of the browser's history).
      if (election && election.coercion) { openCheck(); return; }
      location.hash = "#check?e=" + encodeURIComponent(info.election_id) + "&p=" + pseudonym + "&c=" + trackingCode + "&l=" + lang;
    });
    $("f-check").addEventListener("submit", busy($("f-check"), doCheck));
    // An error under a field goes when the field is edited.
    document.addEventListener("input", (ev) => {
      const el = ev.target.closest("[aria-invalid]");
      if (el) clearErrors();
    });
    // A new address (a link, the check button), not a step back in history.
    window.addEventListener("hashchange", () => { if (lang && !(history.state && history.state.view)) route(); });
    // The shell first: the election's info (small) at once, the language
    // file, then the module in the background.
    loadInfo().catch(() => {});
    const kept = hashParams().get("l");
    if (LANGS.includes(kept)) {
      await setLang(kept, false);
      await route();
    } else {
      show("lang");
      const pref = (navigator.languages || []).map((l) => l.slice(0, 2)).find((l) => LANGS.includes(l));
      await setLang(pref || "en", false);
    }
    ensureReady().catch(() => {}); // a step that needs it reports the failure
  }
  document.addEventListener("DOMContentLoaded", () => { boot().catch(fail); });
})();
