// The portal's Web Worker (spec/16-portal.md): it loads the portal's
// WebAssembly module (the auditor's verifier and the record's decoders),
// checking it against the integrity the page names, and runs the page's
// calls in it, off the page's thread, relaying the verifier's progress.
"use strict";

let policy = null;
let execURL = "";
if (self.trustedTypes) {
  policy = trustedTypes.createPolicy("portal", {
    createScriptURL: (u) => {
      if (u !== execURL) throw new Error("portal worker: unexpected script URL");
      return u;
    },
  });
}

async function load(m) {
  execURL = m.exec;
  importScripts(policy ? policy.createScriptURL(m.exec) : m.exec);
  // The module is read as a stream for the progress bar; fetch checks
  // the whole body against the page's integrity before it resolves the
  // last chunk, so a module other than the published one never runs.
  const resp = await fetch(m.wasm, { integrity: m.wasmIntegrity, credentials: "omit" });
  if (!resp.ok) throw new Error("module: HTTP " + resp.status);
  const reader = resp.body.getReader();
  const chunks = [];
  let done = 0;
  for (;;) {
    const r = await reader.read();
    if (r.done) break;
    chunks.push(r.value);
    done += r.value.length;
    postMessage({ type: "loading", done, total: m.size });
  }
  const bytes = new Uint8Array(done);
  let o = 0;
  for (const c of chunks) { bytes.set(c, o); o += c.length; }
  const go = new Go();
  const { instance } = await WebAssembly.instantiate(bytes, go.importObject);
  go.run(instance);
  for (let i = 0; typeof self.evotePortal !== "function"; i++) {
    if (i > 500) throw new Error("module did not start");
    await new Promise((r) => setTimeout(r, 10));
  }
}

onmessage = async (ev) => {
  const m = ev.data;
  if (m.type === "init") {
    try {
      await load(m);
      postMessage({ type: "ready" });
    } catch (e) {
      postMessage({ type: "fatal", error: String(e && e.message || e) });
    }
    return;
  }
  if (m.type === "call") {
    self.evotePortal(m.op, m.arg,
      (result, error) => postMessage({ type: "done", id: m.id, result, error }),
      (stage, done, total) => postMessage({ type: "progress", id: m.id, stage, done, total }));
  }
};
