#!/usr/bin/env node
/* The web page of `semid serve` (or of tests/js/mock_server.js) in a real browser: Debian's chromium
 * driven by playwright-core, headless, 1280x800.
 *
 *   node tests/js/web_page.js --base http://127.0.0.1:PORT --items WORK/items.jsonl
 *        [--shots build/screenshots] [--timeout 240] [--chromium /usr/bin/chromium]
 *
 * Checks: the page loads with no script error and fetches nothing from another origin; a chat request
 * is answered (streamed) with item cards whose titles are all in the catalogue; the history builder
 * finds items by title, adds two (and removes a third); recommendations for that history come as
 * ranked cards of catalogue items outside the history; a steering prompt gives cards too; a server
 * error is shown to the user; a title holding markup stays text; /report opens when it exists.
 * Screenshots of each step go to --shots. Exit 0 when all holds, 1 with the reason otherwise,
 * 2 on bad usage, 3 when the overall timeout runs out. */
'use strict';
const fs = require('fs');
const path = require('path');

function usage(msg) {
  if (msg) process.stderr.write(`web_page: ${msg}\n`);
  process.stderr.write('usage: node web_page.js --base URL --items WORK/items.jsonl [--shots DIR] [--timeout S] [--chromium PATH]\n');
  process.exit(2);
}
const opt = { base: null, items: null, shots: 'build/screenshots', timeout: 240, chromium: '/usr/bin/chromium' };
for (let i = 2; i < process.argv.length; i++) {
  const a = process.argv[i];
  const val = () => { if (i + 1 >= process.argv.length) usage(`${a} needs a value`); return process.argv[++i]; };
  if (a === '--base') opt.base = val().replace(/\/+$/, '');
  else if (a === '--items') opt.items = val();
  else if (a === '--shots') opt.shots = val();
  else if (a === '--timeout') opt.timeout = Number(val());
  else if (a === '--chromium') opt.chromium = val();
  else usage(`unknown argument ${a}`);
}
if (!opt.base || !opt.items) usage('--base and --items are required');
if (!(opt.timeout > 0)) usage('--timeout must be positive seconds');
const origin = new URL(opt.base).origin;

let pw;
try { pw = require('playwright-core'); } catch (e) {
  console.error('web_page: playwright-core missing: run `npm ci` in tests/js (scripts/install-deps.sh)');
  process.exit(1);
}

const hard = setTimeout(() => {
  console.error(`web_page: FAIL: overall timeout of ${opt.timeout} s ran out (last step: ${step})`);
  process.exit(3);
}, opt.timeout * 1000);

let step = 'start';
const problems = [];   // script errors and outside fetches, reported with any failure
class Fail extends Error {}
const fail = (msg) => { throw new Fail(msg); };
const log = (msg) => console.log(`web_page: ${msg}`);

// The catalogue the server was started on: every title a card shows must be one of these.
const catalogue = new Map();
fs.readFileSync(opt.items, 'utf8').split('\n').forEach((line, i) => {
  if (!line.trim()) return;
  let o;
  try { o = JSON.parse(line); } catch (e) { usage(`${opt.items}:${i + 1}: ${e.message}`); }
  catalogue.set(o.ext_id, o);
});
const titles = new Set([...catalogue.values()].map((o) => o.title));
if (!catalogue.size) usage(`${opt.items}: no items`);

/* Two search words from distinct items: a title's longest word that is not shared by every title. */
function searchWords() {
  const out = [];
  for (const it of catalogue.values()) {
    const w = it.title.split(/[^A-Za-z0-9]+/).filter((x) => x.length >= 4).sort((a, b) => b.length - a.length)[0];
    if (w && !out.includes(w)) out.push(w);
    if (out.length === 3) break;
  }
  if (out.length < 3) fail('the catalogue has too few titles with a word of 4+ letters to search for');
  return out;
}

async function cardsOf(scope) {
  return scope.locator('[data-testid="item-card"]').evaluateAll((cards) => cards.map((c) => ({
    title: c.querySelector('[data-testid="item-title"]').textContent,
    ext: c.dataset.extId,
    rank: (c.querySelector('[data-testid="item-rank"]') || {}).textContent || '',
    score: (c.querySelector('[data-testid="item-score"]') || {}).textContent || '',
    chips: [...c.querySelectorAll('[data-testid="sid-chip"]')].map((x) => x.textContent),
  })));
}

function checkCards(cards, what, opts) {
  if (!cards.length && !(opts && opts.mayBeEmpty)) fail(`${what}: no item cards`);
  cards.forEach((c, i) => {
    if (!titles.has(c.title)) fail(`${what}: card ${i + 1} "${c.title}" is not a catalogue title`);
    const it = catalogue.get(c.ext);
    if (!it) fail(`${what}: card ${i + 1} has ext_id "${c.ext}" not in the catalogue`);
    if (it.title !== c.title) fail(`${what}: card ${i + 1} shows "${c.title}" for ${c.ext}, whose title is "${it.title}"`);
    if (!c.chips.length || !c.chips.every((x) => /^\d+$/.test(x))) fail(`${what}: card ${i + 1} has no SID chips (${JSON.stringify(c.chips)})`);
    if (opts && opts.ranked) {
      if (c.rank !== `#${i + 1}`) fail(`${what}: card ${i + 1} shows rank "${c.rank}"`);
      if (!/^-?\d+(\.\d+)?$/.test(c.score)) fail(`${what}: card ${i + 1} shows no score ("${c.score}")`);
    }
    if (opts && opts.notIn && opts.notIn.has(c.ext)) fail(`${what}: card ${i + 1} "${c.title}" is in the history`);
  });
}

async function main() {
  fs.mkdirSync(opt.shots, { recursive: true });
  const shot = async (page, name) => {
    const f = path.join(opt.shots, `${name}.png`);
    await page.screenshot({ path: f });
    log(`screenshot ${f}`);
  };
  step = 'launch chromium';
  const browser = await pw.chromium.launch({ executablePath: opt.chromium, args: ['--no-sandbox'], headless: true });
  try {
    const ctx = await browser.newContext({ viewport: { width: 1280, height: 800 } });
    ctx.setDefaultTimeout(30000);
    const page = await ctx.newPage();
    page.on('pageerror', (e) => problems.push(`script error: ${e.message}`));
    page.on('console', (m) => { if (m.type() === 'error' && !/Failed to load resource/.test(m.text())) problems.push(`console error: ${m.text()}`); });
    // Nothing may come from elsewhere: no CDN, no fonts, no analytics.
    await page.route('**/*', (route) => {
      const u = route.request().url();
      if (new URL(u).origin !== origin) { problems.push(`the page fetched ${u} from outside ${origin}`); return route.abort(); }
      return route.continue();
    });

    step = 'load the page';
    const resp = await page.goto(`${opt.base}/`);
    if (!resp || !resp.ok()) fail(`GET / answered ${resp ? resp.status() : 'nothing'}`);
    await page.waitForSelector('body[data-ready="true"]');
    for (const id of ['chat-input', 'chat-send', 'history-search', 'recommend-button', 'steer-input', 'report-link']) {
      if (!(await page.$(`[data-testid="${id}"]`))) fail(`the page has no [data-testid="${id}"]`);
    }
    if ((await page.getAttribute('#report-link', 'href')) !== '/report') fail('the report link does not point at /report');
    const model = await page.textContent('#model-name');
    log(`page loaded (${model.trim()})`);
    await shot(page, '01-start');

    const chatWait = Math.max(5000, opt.timeout * 1000 * 0.3);
    /* One turn: type, send, wait (bounded) for the answer to end, check its text and cards. */
    /* The first turn must show cards; a later one may answer in words only (a briefly trained
     * model does not always list items), but every card it shows must be a catalogue item. */
    const chatTurn = async (what, msg, stream, nth) => {
      step = what;
      const t0 = Date.now();
      await page.setChecked('[data-testid="chat-stream"]', stream);
      await page.fill('[data-testid="chat-input"]', msg);
      await page.click('[data-testid="chat-send"]');
      const answer = page.locator('[data-testid="msg-assistant"]').nth(nth);
      await answer.waitFor();
      await page.waitForFunction((i) => {
        const m = document.querySelectorAll('[data-testid="msg-assistant"]')[i];
        return m && m.dataset.state !== 'pending';
      }, nth, { timeout: chatWait });
      const st = await answer.getAttribute('data-state');
      if (st !== 'done') fail(`${what}: the answer ended in "${st}": ${await answer.innerText()}`);
      const body = answer.locator('[data-testid="msg-text"]');
      if (!(await body.textContent()).trim()) fail(`${what}: the answer has no text`);
      const chunks = Number(await body.getAttribute('data-chunks') || 0);
      if (stream && chunks < 2) fail(`${what}: the streamed answer came in ${chunks} piece(s)`);
      const cards = await cardsOf(answer);
      checkCards(cards, what, { mayBeEmpty: nth > 0 });
      log(`${what}: ${cards.length} item cards in ${((Date.now() - t0) / 1000).toFixed(1)} s` +
        `${stream ? ` (${chunks} chunks)` : ''}: ${cards.map((c) => c.title).join(' | ')}`);
    };
    await chatTurn('chat (streamed)', 'I loved racing games on Nintendo Switch. What should I play next? <|rec|>', true, 0);
    await chatTurn('chat (second turn, not streamed)', 'Something like that, but for PC? <|rec|>', false, 1);
    const turns = await page.locator('[data-testid="msg-user"]').count();
    if (turns !== 2) fail(`chat: ${turns} user messages shown, sent 2`);
    await shot(page, '02-chat');

    step = 'history builder';
    const [w1, w2, w3] = searchWords();
    const added = [];
    for (const w of [w1, w2, w3]) {
      await page.fill('[data-testid="history-search"]', w);
      await page.press('[data-testid="history-search"]', 'Enter');
      await page.waitForFunction((word) => {
        const st = document.querySelector('[data-testid="search-status"]');
        const first = document.querySelector('[data-testid="search-title"]');
        return st.dataset.state === 'error' || (st.dataset.state === 'done' && first && first.textContent.toLowerCase().includes(word.toLowerCase()));
      }, w);
      const found = await page.$$eval('[data-testid="search-result"]', (rs) => rs.map((r) => ({
        ext: r.dataset.extId, title: r.querySelector('[data-testid="search-title"]').textContent,
      })));
      if (!found.length) fail(`history: searching "${w}" found nothing`);
      found.forEach((f) => { if (catalogue.get(f.ext)?.title !== f.title) fail(`history: search result "${f.title}" (${f.ext}) is not that catalogue item`); });
      const pick = found.find((f) => !added.includes(f.ext));
      if (!pick) fail(`history: searching "${w}" found only items already added`);
      await page.click(`[data-testid="search-result"][data-ext-id="${pick.ext}"] [data-testid="search-add"]`);
      added.push(pick.ext);
    }
    let hist = await page.$$eval('[data-testid="history-item"]', (li) => li.map((x) => x.dataset.extId));
    if (JSON.stringify(hist) !== JSON.stringify(added)) fail(`history: the list is ${JSON.stringify(hist)}, added ${JSON.stringify(added)}`);
    await page.click(`[data-testid="history-item"][data-ext-id="${added[2]}"] [data-testid="history-remove"]`);
    added.pop();
    hist = await page.$$eval('[data-testid="history-item"]', (li) => li.map((x) => x.dataset.extId));
    if (JSON.stringify(hist) !== JSON.stringify(added)) fail(`history: after removing one the list is ${JSON.stringify(hist)}`);
    if ((await page.textContent('#history-count')) !== '2') fail('history: the count does not say 2');
    log(`history: ${added.map((e) => catalogue.get(e).title).join(' | ')}`);

    step = 'recommend';
    const waitRec = async (what) => {
      await page.waitForFunction(() => document.querySelector('[data-testid="rec-status"]').dataset.state === 'pending', null, { timeout: 5000 }).catch(() => {});
      await page.waitForFunction(() => document.querySelector('[data-testid="rec-status"]').dataset.state !== 'pending', null, { timeout: chatWait });
      const st = await page.getAttribute('[data-testid="rec-status"]', 'data-state');
      if (st !== 'done') fail(`${what}: ${await page.textContent('#error-text')}`);
      return cardsOf(page.locator('[data-testid="rec-results"]'));
    };
    await page.fill('#rec-k', '5');
    await page.click('[data-testid="recommend-button"]');
    const recCards = await waitRec('recommend');
    checkCards(recCards, 'recommend', { ranked: true, notIn: new Set(added) });
    if (recCards.length > 5) fail(`recommend: asked for 5, got ${recCards.length} cards`);
    log(`recommend: ${recCards.map((c) => `${c.rank} ${c.title} (${c.score})`).join(' | ')}`);
    await shot(page, '03-recommend');

    step = 'steer';
    await page.fill('[data-testid="steer-input"]', 'but for Xbox');
    await page.click('[data-testid="steer-button"]');
    const steerCards = await waitRec('steer');
    checkCards(steerCards, 'steer', { ranked: true, notIn: new Set(added) });
    const steerStatus = await page.textContent('[data-testid="rec-status"]');
    if (!steerStatus.includes('but for Xbox')) fail(`steer: the status does not name the prompt: "${steerStatus}"`);
    const xbox = steerCards.filter((c) => /xbox/i.test(JSON.stringify(catalogue.get(c.ext).attributes || {}) + c.title)).length;
    log(`steer "but for Xbox": ${xbox}/${steerCards.length} Xbox items: ${steerCards.map((c) => c.title).join(' | ')}`);
    await shot(page, '04-steer');

    /* The next two use a canned answer for one request (page.route), so they hold whatever the server. */
    step = 'server error shown';
    const evil = '<img src=x onerror="window.__injected=1">Evil <b>title</b>';
    await page.route('**/v1/recommend', (route) => route.fulfill({
      status: 400, contentType: 'application/json',
      body: JSON.stringify({ error: { message: 'unknown item "X" in history', type: 'invalid_request_error', param: 'history', code: null } }),
    }), { times: 1 });
    await page.click('[data-testid="recommend-button"]');
    await page.waitForSelector('[data-testid="error-banner"]:not([hidden])', { timeout: 10000 });
    const errText = await page.textContent('#error-text');
    if (!errText.includes('unknown item "X" in history') || !errText.includes('400')) fail(`error: the banner says "${errText}"`);
    await shot(page, '05-error');

    step = 'no HTML injection';
    const ext0 = [...catalogue.keys()][0];
    await page.route('**/v1/recommend', (route) => route.fulfill({
      status: 200, contentType: 'application/json',
      body: JSON.stringify({ items: [{ rank: 1, ext_id: ext0, title: evil, sid: '<|sid_start|><|sid_1|><|sid_end|>', score: -1, attrs: { platform: '<i>x</i>' } }] }),
    }), { times: 1 });
    await page.click('[data-testid="recommend-button"]');
    await page.waitForFunction(() => document.querySelector('[data-testid="rec-status"]').dataset.state === 'done');
    const inj = await page.evaluate(() => ({
      injected: window.__injected === 1,
      tags: document.querySelectorAll('#rec-results img, #rec-results b, #rec-results i').length,
      title: document.querySelector('#rec-results [data-testid="item-title"]').textContent,
    }));
    if (inj.injected || inj.tags) fail(`injection: a title's markup became elements (${inj.tags}) or ran`);
    if (inj.title !== evil) fail(`injection: the title shows as "${inj.title}"`);
    await page.fill('#history-search', '');
    if (!(await page.isHidden('#error-banner'))) await page.click('#error-close');

    step = 'report';
    const rep = await ctx.request.get(`${opt.base}/report`);
    if (rep.status() === 200) {
      const [tab] = await Promise.all([ctx.waitForEvent('page'), page.click('[data-testid="report-link"]')]);
      await tab.waitForLoadState();
      await tab.setViewportSize({ width: 1280, height: 800 });
      log(`report: "${await tab.title()}"`);
      await shot(tab, '06-report');
      await tab.close();
    } else if (rep.status() === 404) {
      log('report: /report answers 404 (no report in this work directory): skipped');
      if (!(await page.getAttribute('#report-link', 'class') || '').includes('unavailable')) fail('report: the link is not marked unavailable for a 404');
    } else {
      fail(`report: /report answered ${rep.status()}`);
    }
    if (problems.length) fail(problems.join('\n'));
  } finally {
    await browser.close();
  }
}

main().then(() => {
  clearTimeout(hard);
  log('OK');
}).catch((e) => {
  console.error(`web_page: FAIL at step "${step}": ${e instanceof Fail ? e.message : (e.stack || e)}`);
  if (problems.length && !(e instanceof Fail && e.message === problems.join('\n'))) console.error(`web_page: also: ${problems.join('\n')}`);
  process.exit(1);
});
