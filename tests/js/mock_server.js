#!/usr/bin/env node
/* A stand-in for `semid serve WORK` with no model: the same HTTP API (OpenAI chat completions, streamed
 * or not, /v1/recommend, /v1/items, /v1/models, /report) answered from WORK/items.jsonl (and
 * WORK/sids.tsv when present) by word matching, and the page from src/serve/static/. It lets the page
 * be tested in a browser without a model.
 *
 *   node tests/js/mock_server.js WORK [--port 0] [--static DIR] [--delay-ms 15]
 *
 * Listens on 127.0.0.1 only and prints `listening on http://127.0.0.1:PORT` on stdout once ready.
 * Note: item titles are never trusted as HTML by the page, so the mock sends them as they are. */
'use strict';
const fs = require('fs');
const http = require('http');
const path = require('path');

function usage(msg) {
  if (msg) process.stderr.write(`mock_server: ${msg}\n`);
  process.stderr.write('usage: node mock_server.js WORK [--port N] [--static DIR] [--delay-ms MS]\n');
  process.exit(2);
}

const opts = { port: 0, static: path.join(__dirname, '..', '..', 'src', 'serve', 'static'), delayMs: 15 };
let work = null;
for (let i = 2; i < process.argv.length; i++) {
  const a = process.argv[i];
  const val = () => { if (i + 1 >= process.argv.length) usage(`${a} needs a value`); return process.argv[++i]; };
  if (a === '--port') opts.port = Number(val());
  else if (a === '--static') opts.static = val();
  else if (a === '--delay-ms') opts.delayMs = Number(val());
  else if (a === '--help' || a === '-h') usage();
  else if (a.startsWith('-')) usage(`unknown option ${a}`);
  else if (work === null) work = a;
  else usage(`unexpected argument ${a}`);
}
if (!work) usage('WORK missing');
if (!Number.isInteger(opts.port) || opts.port < 0 || opts.port > 65535) usage('--port must be 0..65535');

// ---- the catalogue ----
function readItems(file) {
  let text;
  try { text = fs.readFileSync(file, 'utf8'); } catch (e) { console.error(`mock_server: ${file}: ${e.message}`); process.exit(1); }
  const items = [];
  text.split('\n').forEach((line, i) => {
    if (!line.trim()) return;
    let o;
    try { o = JSON.parse(line); } catch (e) { console.error(`mock_server: ${file}:${i + 1}: ${e.message}`); process.exit(1); }
    if (typeof o.ext_id !== 'string' || typeof o.title !== 'string') {
      console.error(`mock_server: ${file}:${i + 1}: "ext_id" and "title" must be strings`);
      process.exit(1);
    }
    items.push(o);
  });
  if (!items.length) { console.error(`mock_server: ${file}: no items`); process.exit(1); }
  return items;
}

const items = readItems(path.join(work, 'items.jsonl'));
const byExt = new Map(items.map((it, i) => [it.ext_id, i]));
const sids = items.map((it, i) => `<|sid_start|><|sid_${i % 256}|><|sid_${256 + ((i * 7) % 256)}|><|sid_${512 + ((i * 13) % 256)}|><|sid_end|>`);
try {   // the real semantic IDs when `semid ids` has run
  fs.readFileSync(path.join(work, 'sids.tsv'), 'utf8').split('\n').slice(1).forEach((l) => {
    const f = l.split('\t');
    if (f.length >= 3 && byExt.has(f[1])) sids[byExt.get(f[1])] = f[f.length - 1];
  });
} catch (e) { /* no sids.tsv: the made-up ones above */ }

const fold = (s) => String(s).toLowerCase().normalize('NFKD').replace(/[\u0300-\u036f]/g, '');
const words = (s) => fold(s).split(/[^a-z0-9]+/).filter((w) => w.length > 1);
const attrsOf = (it) => {
  const out = {};
  Object.entries(it.attributes || {}).forEach(([k, v]) => { out[k] = Array.isArray(v) ? v.join(', ') : String(v); });
  return out;
};
const itemWords = items.map((it) => new Set(words(`${it.title} ${Object.values(attrsOf(it)).join(' ')}`)));
const brief = (i) => ({ ext_id: items[i].ext_id, title: items[i].title, sid: sids[i], attrs: attrsOf(items[i]) });

/* Items ranked by how many of the prompt's words they carry (ties by catalogue order), the score a
 * made-up log-probability that falls with the rank. */
function rank(prompt, exclude, k) {
  const q = words(prompt || '');
  const scored = [];
  items.forEach((it, i) => {
    if (exclude.has(i)) return;
    let s = 0;
    q.forEach((w) => { if (itemWords[i].has(w)) s++; });
    scored.push([s, i]);
  });
  scored.sort((a, b) => b[0] - a[0] || a[1] - b[1]);
  return scored.slice(0, k).map(([, i], r) => Object.assign(brief(i), { score: -(0.5 + r * 0.37) }));
}

// ---- HTTP ----
function send(res, status, type, body) {
  res.writeHead(status, { 'Content-Type': type, 'Cache-Control': 'no-store', 'Content-Length': Buffer.byteLength(body) });
  res.end(body);
}
const sendJson = (res, status, obj) => send(res, status, 'application/json', JSON.stringify(obj));
const apiError = (res, status, message, param, code) => sendJson(res, status, {
  error: { message, type: status >= 500 ? 'server_error' : 'invalid_request_error', param: param || null, code: code || null },
});

function readBody(req) {
  return new Promise((resolve, reject) => {
    const parts = [];
    let n = 0;
    req.on('data', (c) => { n += c.length; if (n > 1 << 20) { reject(new Error('body over 1 MiB')); req.destroy(); } else parts.push(c); });
    req.on('end', () => resolve(Buffer.concat(parts).toString('utf8')));
    req.on('error', reject);
  });
}
async function jsonBody(req, res) {
  let text;
  try { text = await readBody(req); } catch (e) { apiError(res, 413, e.message); return null; }
  try {
    const j = JSON.parse(text);
    if (j === null || typeof j !== 'object' || Array.isArray(j)) throw new Error('not an object');
    return j;
  } catch (e) { apiError(res, 400, `request body is not a JSON object: ${e.message}`); return null; }
}

const STATIC = {
  '/': ['index.html', 'text/html; charset=utf-8'],
  '/index.html': ['index.html', 'text/html; charset=utf-8'],
  '/static/app.js': ['app.js', 'text/javascript; charset=utf-8'],
  '/static/style.css': ['style.css', 'text/css; charset=utf-8'],
};

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function chat(req, res) {
  const j = await jsonBody(req, res);
  if (!j) return;
  if (!Array.isArray(j.messages) || !j.messages.length) return apiError(res, 400, '"messages" must be a non-empty array', 'messages');
  for (const m of j.messages) {
    if (!m || typeof m.content !== 'string' || !['system', 'user', 'assistant'].includes(m.role)) {
      return apiError(res, 400, 'each message needs a "role" (system, user, assistant) and a string "content"', 'messages');
    }
  }
  const last = [...j.messages].reverse().find((m) => m.role === 'user');
  if (!last) return apiError(res, 400, 'no user message', 'messages');
  const picks = rank(last.content, new Set(), 3);
  const text = `Here are three picks for you: ${picks.map((p) => p.title).join(', ')}. ` +
    `${picks[0].title} fits your request best.`;
  const id = `chatcmpl-mock-${Date.now()}`;
  const created = Math.floor(Date.now() / 1000);
  const model = 'semid-mock';
  if (!j.stream) {
    return sendJson(res, 200, {
      id, object: 'chat.completion', created, model,
      choices: [{ index: 0, message: { role: 'assistant', content: text }, finish_reason: 'stop' }],
      usage: { prompt_tokens: 0, completion_tokens: 0, total_tokens: 0 },
      items: picks,
    });
  }
  res.writeHead(200, { 'Content-Type': 'text/event-stream', 'Cache-Control': 'no-store', Connection: 'keep-alive' });
  const chunk = (delta, finish, extra) => res.write(`data: ${JSON.stringify(Object.assign({
    id, object: 'chat.completion.chunk', created, model, choices: [{ index: 0, delta, finish_reason: finish }],
  }, extra || {}))}\n\n`);
  chunk({ role: 'assistant', content: '' }, null);
  for (const piece of text.match(/\S+\s*/g)) {
    if (res.destroyed) return;
    chunk({ content: piece }, null);
    await sleep(opts.delayMs);
  }
  chunk({}, 'stop', { items: picks });
  res.end('data: [DONE]\n\n');
}

async function recommend(req, res) {
  const j = await jsonBody(req, res);
  if (!j) return;
  const hist = j.history === undefined ? [] : j.history;
  if (!Array.isArray(hist)) return apiError(res, 400, '"history" must be an array of item ids', 'history');
  const ids = new Set();
  for (const h of hist) {
    if (typeof h !== 'string' || !byExt.has(h)) return apiError(res, 400, `unknown item "${String(h)}" in history`, 'history', 'unknown_item');
    ids.add(byExt.get(h));
  }
  const k = j.k === undefined ? 10 : j.k;
  if (!Number.isInteger(k) || k < 1 || k > 100) return apiError(res, 400, '"k" must be an integer in 1..100', 'k');
  if (j.prompt !== undefined && typeof j.prompt !== 'string') return apiError(res, 400, '"prompt" must be a string', 'prompt');
  if (!hist.length && !j.prompt) return apiError(res, 400, 'give a "history" or a "prompt"', 'history');
  /* the history's own words stand in for the model's taste; the prompt's words weigh more */
  const histText = [...ids].map((i) => items[i].title).join(' ');
  const prompt = `${j.prompt || ''} ${j.prompt || ''} ${histText}`;
  const out = rank(prompt, j.exclude_history === false ? new Set() : ids, k).map((it, r) => Object.assign({ rank: r + 1 }, it));
  await sleep(opts.delayMs * 3);
  sendJson(res, 200, { items: out });
}

function listItems(url, res) {
  const q = (url.searchParams.get('q') || '').trim();
  const limitS = url.searchParams.get('limit');
  const limit = limitS === null ? 20 : Number(limitS);
  if (!Number.isInteger(limit) || limit < 1 || limit > 200) return apiError(res, 400, '"limit" must be an integer in 1..200', 'limit');
  const qw = words(q);
  const out = [];
  for (let i = 0; i < items.length && out.length < limit; i++) {
    const tw = new Set(words(items[i].title));
    if (qw.every((w) => [...tw].some((t) => t.startsWith(w)))) out.push(brief(i));
  }
  sendJson(res, 200, { items: out });
}

function oneItem(ext, res) {
  if (!byExt.has(ext)) return apiError(res, 404, `no item "${ext}"`, 'ext_id', 'unknown_item');
  const i = byExt.get(ext);
  const it = items[i];
  sendJson(res, 200, Object.assign(brief(i), {
    description: it.description || '', categories: it.categories || [], features: it.features || [],
  }));
}

async function handle(req, res) {
  const url = new URL(req.url, 'http://127.0.0.1');
  const p = url.pathname;
  if (req.method === 'GET' && STATIC[p]) {
    const [file, type] = STATIC[p];
    return send(res, 200, type, fs.readFileSync(path.join(opts.static, file)));
  }
  if (p === '/v1/chat/completions') return req.method === 'POST' ? chat(req, res) : apiError(res, 405, 'use POST');
  if (p === '/v1/recommend') return req.method === 'POST' ? recommend(req, res) : apiError(res, 405, 'use POST');
  if (req.method !== 'GET') return apiError(res, 405, 'use GET');
  if (p === '/v1/models') return sendJson(res, 200, { object: 'list', data: [{ id: 'semid-mock', object: 'model', created: 0, owned_by: 'semid' }] });
  if (p === '/v1/items') return listItems(url, res);
  if (p.startsWith('/v1/items/')) return oneItem(decodeURIComponent(p.slice('/v1/items/'.length)), res);
  if (p === '/report') {
    const f = path.join(work, 'report.html');
    if (fs.existsSync(f)) return send(res, 200, 'text/html; charset=utf-8', fs.readFileSync(f));
    return apiError(res, 404, 'no report in this work directory (run semid report)');
  }
  apiError(res, 404, `no route ${p}`);
}

const server = http.createServer((req, res) => {
  handle(req, res).catch((e) => { if (!res.headersSent) apiError(res, 500, e.message); else res.destroy(); });
});
server.listen(opts.port, '127.0.0.1', () => {
  process.stdout.write(`mock_server: ${items.length} items; listening on http://127.0.0.1:${server.address().port}\n`);
});
const stop = () => { server.close(() => process.exit(0)); server.closeAllConnections(); };
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
