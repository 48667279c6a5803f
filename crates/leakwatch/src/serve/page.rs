//! The live page: a static shell, its stylesheet (the HTML report's, plus a
//! status line) and a small script that polls the API and swaps in the
//! server-rendered view. No CDN and nothing inline: the policy allows
//! scripts, styles and fetches from this server only.

/// The Content-Security-Policy of every response.
pub const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
     connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; \
     frame-ancestors 'none'";

/// `GET /`.
pub const PAGE: &str = r#"<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>leakwatch live</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="/live.css">
<script src="/live.js" defer></script>
</head>
<body>
<header>
<h1>leakwatch live</h1>
<p class="status"><span id="state">connecting…</span> · <span id="samples">0</span> samples · RSS <span id="rss">–</span> · updated <span id="updated">never</span></p>
</header>
<main id="view"><p class="note">Waiting for the first analysis…</p></main>
</body>
</html>
"#;

/// `GET /live.js`: polls `/api/samples` and `/api/verdict` every two
/// seconds, fetches `/api/view` when the verdict changed, and stops once the
/// verdict is final (not interim), so a page left open after `check` exits
/// keeps the last state without a stream of failed requests.
pub const SCRIPT: &str = r#"'use strict';
(function () {
  const POLL_MS = 2000;
  let since = '';
  let samples = 0;
  let lastVerdict = '';
  let final = false;
  const $ = (id) => document.getElementById(id);
  const bytes = (n) => {
    if (n === null || n === undefined) return '–';
    const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
    let i = 0;
    while (Math.abs(n) >= 1024 && i < units.length - 1) { n /= 1024; i++; }
    return (i === 0 ? n.toFixed(0) : n.toFixed(1)) + ' ' + units[i];
  };
  async function pollSamples() {
    for (;;) {
      const url = '/api/samples' + (since ? '?since=' + encodeURIComponent(since) : '');
      const r = await fetch(url, { cache: 'no-store' });
      if (!r.ok) return;
      const page = await r.json();
      if (page.samples.length > 0) {
        const last = page.samples[page.samples.length - 1];
        since = last.time;
        samples += page.samples.length;
        $('samples').textContent = String(samples);
        $('rss').textContent = bytes(last.vm_rss);
      }
      if (!page.more) return;
    }
  }
  async function pollVerdict() {
    const r = await fetch('/api/verdict', { cache: 'no-store' });
    if (r.status !== 200) {
      $('state').textContent = 'waiting for the first samples';
      return;
    }
    const text = await r.text();
    if (text === lastVerdict) return;
    const verdict = JSON.parse(text);
    const view = await fetch('/api/view', { cache: 'no-store' });
    if (view.ok) $('view').innerHTML = await view.text();
    lastVerdict = text;
    final = !verdict.interim;
    const word = verdict.verdict.replace('_', ' ');
    $('state').textContent = final ? 'watch ended: ' + word : 'watching: ' + word + ' so far (interim)';
    $('state').className = 'state ' + verdict.verdict;
    $('updated').textContent = new Date().toLocaleTimeString();
  }
  async function tick() {
    try {
      await pollSamples();
      await pollVerdict();
    } catch (e) {
      $('state').textContent = 'connection lost; showing the last state received';
      return;
    }
    if (!final) setTimeout(tick, POLL_MS);
  }
  tick();
})();
"#;

/// `GET /live.css`: the report's look, plus the status line.
pub fn style() -> String {
    format!(
        "{}{}",
        crate::render::html::STYLE,
        r#"
.status { color: #555; margin: 0.2rem 0 1rem; }
.state.leak { color: #d62728; font-weight: bold; }
.state.no_leak { color: #2ca02c; font-weight: bold; }
.state.inconclusive { color: #b35900; }
.interim { border: 1px dashed #ff7f0e; color: #b35900; padding: 0.1rem 0.4rem; font-size: 0.85rem; }
"#
    )
}
