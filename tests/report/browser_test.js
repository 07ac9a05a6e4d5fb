#!/usr/bin/env node
// Opens meshplan HTML reports in headless Chromium and checks them as a user would see them:
// every chart the page declares renders, each of its expected marks draws at least one item,
// the console shows no error, nothing is fetched from the network, and a screenshot is saved.
//
// Talks to Chromium over the DevTools protocol on a pipe (--remote-debugging-pipe: fd 3 in,
// fd 4 out, messages separated by NUL), so it needs nothing but node and the browser.
//
//   node browser_test.js --chromium /usr/bin/chromium --out DIR REPORT.html[=id-suffix,...]...
//
// `=suffixes` lists chart ids (their endings, e.g. "step,memory,timeline1") the page must have.
// Ends with "N passed, N failed"; exit status 1 when any check fails.
'use strict';
const {spawn} = require('child_process');
const fs = require('fs');
const os = require('os');
const path = require('path');

function parseArgs(argv) {
  const a = {chromium: '/usr/bin/chromium', out: '.', reports: [], timeoutMs: 60000};
  for (let i = 0; i < argv.length; ++i) {
    if (argv[i] === '--chromium') a.chromium = argv[++i];
    else if (argv[i] === '--out') a.out = argv[++i];
    else if (argv[i] === '--timeout-ms') a.timeoutMs = Number(argv[++i]);
    else {
      const [file, want] = argv[i].split('=');
      a.reports.push({file: path.resolve(file), want: want ? want.split(',') : []});
    }
  }
  return a;
}

/// A DevTools-protocol connection to a browser launched with --remote-debugging-pipe.
class Cdp {
  constructor(proc) {
    this.proc = proc;
    this.nextId = 1;
    this.pending = new Map();
    this.listeners = [];
    let buf = '';
    proc.stdio[4].on('data', (chunk) => {
      buf += chunk.toString('utf8');
      let end;
      while ((end = buf.indexOf('\0')) >= 0) {
        const msg = JSON.parse(buf.slice(0, end));
        buf = buf.slice(end + 1);
        if (msg.id && this.pending.has(msg.id)) {
          const {resolve, reject, method} = this.pending.get(msg.id);
          this.pending.delete(msg.id);
          if (msg.error) reject(new Error(method + ': ' + msg.error.message));
          else resolve(msg.result);
        } else if (msg.method) {
          for (const l of this.listeners) l(msg);
        }
      }
    });
  }
  send(method, params = {}, sessionId = undefined) {
    const id = this.nextId++;
    const msg = {id, method, params};
    if (sessionId) msg.sessionId = sessionId;
    return new Promise((resolve, reject) => {
      this.pending.set(id, {resolve, reject, method});
      this.proc.stdio[3].write(JSON.stringify(msg) + '\0');
    });
  }
  on(fn) { this.listeners.push(fn); }
}

function withTimeout(promise, ms, what) {
  let t;
  return Promise.race([promise, new Promise((_, reject) => {
    t = setTimeout(() => reject(new Error('timed out after ' + ms + ' ms: ' + what)), ms);
  })]).finally(() => clearTimeout(t));
}

// Runs in the page: waits for every chart, then counts the items of each named mark.
const kInspect = `(async () => {
  if (!window.__meshplanReady) return {fatal: 'the page has no __meshplanReady (scripts did not run)'};
  await window.__meshplanReady;
  const out = {charts: [], errors: window.__meshplanErrors.slice()};
  for (const c of window.__meshplanCharts) {
    const view = window.__meshplanViews[c.id];
    const marks = {};
    const walk = (mark) => {
      if (!mark || !mark.marktype) return;
      const items = mark.items || [];
      if (mark.name) marks[mark.name] = (marks[mark.name] || 0) + items.length;
      if (mark.marktype === 'group') for (const g of items) for (const m of (g.items || [])) walk(m);
    };
    if (view) walk(view.scenegraph().root);
    const el = document.getElementById(c.id);
    const svg = el ? el.querySelector('svg') : null;
    const box = svg ? svg.getBoundingClientRect() : {width: 0, height: 0};
    out.charts.push({id: c.id, title: c.title, expect: c.expect, rendered: !!view, marks,
                     width: box.width, height: box.height});
  }
  out.height = document.documentElement.scrollHeight;
  return out;
})()`;

async function checkReport(cdp, report, outDir, timeoutMs) {
  const failures = [];
  const {targetId} = await cdp.send('Target.createTarget', {url: 'about:blank'});
  const {sessionId} = await cdp.send('Target.attachToTarget', {targetId, flatten: true});
  const console_errors = [];
  const requests = [];
  cdp.on((msg) => {
    if (msg.sessionId !== sessionId) return;
    const p = msg.params;
    if (msg.method === 'Runtime.consoleAPICalled' && (p.type === 'error' || p.type === 'assert')) {
      console_errors.push('console.' + p.type + ': ' + p.args.map((x) => x.value ?? x.description).join(' '));
    } else if (msg.method === 'Runtime.exceptionThrown') {
      console_errors.push('exception: ' + (p.exceptionDetails.exception?.description || p.exceptionDetails.text));
    } else if (msg.method === 'Log.entryAdded' && p.entry.level === 'error') {
      console_errors.push('log: ' + p.entry.text + (p.entry.url ? ' (' + p.entry.url + ')' : ''));
    } else if (msg.method === 'Network.requestWillBeSent') {
      requests.push(p.request.url);
    }
  });
  for (const m of ['Page.enable', 'Runtime.enable', 'Log.enable', 'Network.enable']) await cdp.send(m, {}, sessionId);
  await cdp.send('Emulation.setDeviceMetricsOverride',
                 {width: 1280, height: 900, deviceScaleFactor: 1, mobile: false}, sessionId);
  const loaded = new Promise((resolve) => cdp.on((msg) => {
    if (msg.sessionId === sessionId && msg.method === 'Page.loadEventFired') resolve();
  }));
  await cdp.send('Page.navigate', {url: 'file://' + report.file}, sessionId);
  await withTimeout(loaded, timeoutMs, 'load of ' + report.file);
  const r = await withTimeout(cdp.send('Runtime.evaluate',
      {expression: kInspect, awaitPromise: true, returnByValue: true}, sessionId), timeoutMs, 'charts to render');
  if (r.exceptionDetails) throw new Error('inspecting the page failed: ' + JSON.stringify(r.exceptionDetails));
  const res = r.result.value;
  if (res.fatal) failures.push(res.fatal);
  const charts = res.charts || [];
  if (charts.length === 0) failures.push('the page declares no chart');
  for (const want of report.want) {
    if (!charts.some((c) => c.id.endsWith('-' + want))) failures.push('no chart whose id ends with "-' + want + '"');
  }
  for (const c of charts) {
    if (!c.rendered) failures.push(c.id + ' (' + c.title + '): did not render');
    if (c.width < 50 || c.height < 50) failures.push(c.id + ': drawn ' + c.width + 'x' + c.height + ' px');
    for (const e of c.expect) {
      const n = Object.entries(c.marks).filter(([name]) => name === e || name.startsWith(e + '_'))
          .reduce((s, [, k]) => s + k, 0);
      if (n === 0) {
        failures.push(c.id + ' (' + c.title + '): mark "' + e + '" drew nothing; marks: ' + JSON.stringify(c.marks));
      }
    }
  }
  for (const e of res.errors || []) failures.push('chart error: ' + e);
  for (const e of console_errors) failures.push(e);
  for (const u of requests) {
    if (!u.startsWith('file://') && !u.startsWith('data:') && u !== 'about:blank') failures.push('network fetch: ' + u);
  }
  // The whole page, for a person to look at.
  const height = Math.min(Math.max(900, res.height || 900), 16000);
  await cdp.send('Emulation.setDeviceMetricsOverride',
                 {width: 1280, height, deviceScaleFactor: 1, mobile: false}, sessionId);
  const shot = await cdp.send('Page.captureScreenshot', {format: 'png', captureBeyondViewport: true}, sessionId);
  const png = path.join(outDir, path.basename(report.file).replace(/\.html?$/, '') + '.png');
  fs.writeFileSync(png, Buffer.from(shot.data, 'base64'));
  await cdp.send('Target.closeTarget', {targetId});
  return {failures, charts, png};
}

async function main() {
  const args = parseArgs(process.argv.slice(2));
  if (args.reports.length === 0) {
    console.error('usage: browser_test.js --chromium PATH --out DIR REPORT.html[=suffix,...]...');
    process.exit(2);
  }
  fs.mkdirSync(args.out, {recursive: true});
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'meshplan-chromium-'));
  const proc = spawn(args.chromium, [
    '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync',
    '--disable-default-apps', '--disable-extensions', '--mute-audio', '--hide-scrollbars',
    '--allow-file-access-from-files', '--user-data-dir=' + profile, '--remote-debugging-pipe',
    'about:blank'], {stdio: ['ignore', 'ignore', 'pipe', 'pipe', 'pipe']});
  let stderr = '';
  proc.stderr.on('data', (d) => { stderr += d.toString(); });
  const exited = new Promise((resolve) => proc.on('exit', resolve));
  const cdp = new Cdp(proc);
  let passed = 0, failed = 0;
  try {
    await withTimeout(cdp.send('Browser.getVersion'), args.timeoutMs, 'chromium to start');
    for (const report of args.reports) {
      const t0 = Date.now();
      let res;
      try {
        res = await checkReport(cdp, report, args.out, args.timeoutMs);
      } catch (e) {
        res = {failures: [String(e && e.message || e)], charts: [], png: ''};
      }
      const name = path.basename(report.file);
      if (res.failures.length === 0) {
        ++passed;
        console.log('PASS ' + name + ': ' + res.charts.length + ' charts (' +
                    res.charts.map((c) => c.id.replace(/^r\d+-/, '')).join(', ') + ') in ' +
                    (Date.now() - t0) + ' ms; screenshot ' + res.png);
      } else {
        ++failed;
        console.log('FAIL ' + name + ':\n  ' + res.failures.join('\n  ') + (res.png ? '\n  screenshot ' + res.png : ''));
      }
    }
    await cdp.send('Browser.close').catch(() => {});
  } catch (e) {
    ++failed;
    console.log('FAIL chromium: ' + (e && e.message || e) + '\n' + stderr.slice(-2000));
    proc.kill('SIGKILL');
  }
  await withTimeout(exited, 10000, 'chromium to exit').catch(() => proc.kill('SIGKILL'));
  fs.rmSync(profile, {recursive: true, force: true});
  console.log(passed + ' passed, ' + failed + ' failed');
  process.exit(failed === 0 ? 0 : 1);
}

main();
