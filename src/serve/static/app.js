/* The web page of `semid serve`: chat (streamed), a purchase-history builder, recommendations for it
 * and steering. Every text from the server is set with textContent (never innerHTML), so a catalogue
 * title cannot inject markup. Talks only to the server it was loaded from. */
'use strict';

(function () {
  const CHAT_TIMEOUT_MS = 180000;   // a CPU model may take a while to answer
  const CALL_TIMEOUT_MS = 60000;
  const ATTR_SHOWN = 4;             // attributes on a card; the rest go into its tooltip

  const $ = (id) => document.getElementById(id);
  const state = {
    messages: [],          // the conversation as sent to /v1/chat/completions
    history: [],           // [{ext_id, title}]
    chatAbort: null,
    searchSeq: 0,
    recSeq: 0,
  };

  // ---- errors ----
  function showError(msg) {
    $('error-text').textContent = msg;
    $('error-banner').hidden = false;
  }
  function clearError() {
    $('error-banner').hidden = true;
    $('error-text').textContent = '';
  }
  $('error-close').addEventListener('click', clearError);

  /* The API's errors are {"error":{"message",...}}; anything else is described by its status. */
  async function errorOf(res) {
    let text = '';
    try { text = await res.text(); } catch (e) { /* the body is optional */ }
    try {
      const j = JSON.parse(text);
      if (j && j.error && j.error.message) {
        return `${j.error.message}${j.error.param ? ` (${j.error.param})` : ''} — HTTP ${res.status}`;
      }
    } catch (e) { /* not JSON */ }
    return `HTTP ${res.status} ${res.statusText}${text ? ': ' + text.slice(0, 200) : ''}`;
  }

  async function callJson(url, opts) {
    const ctl = new AbortController();
    const timer = setTimeout(() => ctl.abort(), CALL_TIMEOUT_MS);
    try {
      const res = await fetch(url, Object.assign({ signal: ctl.signal }, opts || {}));
      if (!res.ok) throw new Error(await errorOf(res));
      return await res.json();
    } catch (e) {
      if (e.name === 'AbortError') throw new Error(`${url}: no answer within ${CALL_TIMEOUT_MS / 1000} s`);
      throw e;
    } finally {
      clearTimeout(timer);
    }
  }
  const postJson = (url, body) => callJson(url, {
    method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body),
  });

  // ---- item cards ----
  /* "<|sid_start|><|sid_12|><|sid_300|><|sid_end|>" -> ["12", "300"] */
  function sidCodes(sid) {
    if (typeof sid !== 'string') return [];
    const out = [];
    const re = /<\|sid_(\d+)\|>/g;
    let m;
    while ((m = re.exec(sid)) !== null) out.push(m[1]);
    return out;
  }

  function attrText(v) {
    if (Array.isArray(v)) return v.map(String).join(', ');
    if (v !== null && typeof v === 'object') return JSON.stringify(v);
    return String(v);
  }

  function renderSid(box, sid) {
    box.textContent = '';
    const codes = sidCodes(sid);
    if (!codes.length) { box.hidden = true; return; }
    box.title = `semantic ID ${sid}`;
    const label = document.createElement('span');
    label.className = 'sid-label';
    label.textContent = 'SID';
    box.appendChild(label);
    codes.forEach((c, i) => {
      if (i) {
        const dot = document.createElement('span');
        dot.className = 'sid-sep';
        dot.setAttribute('aria-hidden', 'true');
        dot.textContent = '·';
        box.appendChild(dot);
      }
      const chip = document.createElement('span');
      chip.className = `sid-chip level-${Math.min(i, 5)}`;
      chip.dataset.testid = 'sid-chip';
      chip.setAttribute('aria-label', `level ${i + 1} code ${c}`);
      chip.textContent = c;
      box.appendChild(chip);
    });
  }

  function makeCard(item, opts) {
    const li = $('card-template').content.firstElementChild.cloneNode(true);
    const q = (tid) => li.querySelector(`[data-testid="${tid}"]`);
    li.dataset.extId = item.ext_id || '';
    q('item-title').textContent = item.title || item.ext_id || '(untitled)';
    q('item-ext-id').textContent = item.ext_id || '';
    if (item.rank !== undefined && item.rank !== null) {
      q('item-rank').hidden = false;
      q('item-rank').textContent = `#${item.rank}`;
    }
    if (typeof item.score === 'number') {
      q('item-score').hidden = false;
      q('item-score').textContent = item.score.toFixed(3);
      q('item-score').title = 'score (log-probability: higher is better)';
    }
    const attrs = q('item-attrs');
    const entries = Object.entries(item.attrs || {});
    entries.slice(0, ATTR_SHOWN).forEach(([k, v]) => {
      const a = document.createElement('li');
      const key = document.createElement('span');
      key.className = 'attr-key';
      key.textContent = k.replace(/_/g, ' ');
      const val = document.createElement('span');
      val.className = 'attr-val';
      val.textContent = attrText(v);
      a.append(key, val);
      attrs.appendChild(a);
    });
    if (entries.length > ATTR_SHOWN) {
      attrs.title = entries.map(([k, v]) => `${k}: ${attrText(v)}`).join('\n');
    }
    renderSid(q('item-sid'), item.sid);
    const add = q('card-add-history');
    if (!item.ext_id || (opts && opts.noAdd)) add.remove();
    else {
      add.setAttribute('aria-label', `Add ${item.title || item.ext_id} to the history`);
      add.addEventListener('click', () => addHistory(item));
    }
    return li;
  }

  // ---- chat ----
  function chatBubble(role, text) {
    const empty = $('chat-empty');
    if (empty) empty.remove();
    const div = document.createElement('div');
    div.className = `msg msg-${role}`;
    div.dataset.testid = role === 'user' ? 'msg-user' : 'msg-assistant';
    const who = document.createElement('div');
    who.className = 'msg-who';
    who.textContent = role === 'user' ? 'You' : 'semid';
    const body = document.createElement('div');
    body.className = 'msg-text';
    body.dataset.testid = 'msg-text';
    body.textContent = text || '';
    div.append(who, body);
    $('chat-log').appendChild(div);
    scrollChat();
    return div;
  }
  function scrollChat() { const log = $('chat-log'); log.scrollTop = log.scrollHeight; }

  function finishAnswer(bubble, items, errMsg) {
    if (errMsg) {
      bubble.classList.add('msg-error');
      const e = document.createElement('div');
      e.className = 'msg-err';
      e.dataset.testid = 'msg-error';
      e.textContent = errMsg;
      bubble.appendChild(e);
      bubble.dataset.state = 'error';
      showError(errMsg);
    } else {
      bubble.dataset.state = 'done';
    }
    if (Array.isArray(items) && items.length) {
      const ol = document.createElement('ol');
      ol.className = 'cards cards-chat';
      ol.dataset.testid = 'answer-items';
      items.forEach((it) => ol.appendChild(makeCard(it)));
      bubble.appendChild(ol);
    }
    scrollChat();
  }

  /* Reads the SSE stream: `data: {...}` events, each a chunk with choices[0].delta.content; the last
   * one carries finish_reason and the top-level items; `data: [DONE]` ends it. */
  async function readStream(res, body, onItems) {
    const reader = res.body.getReader();
    const dec = new TextDecoder();
    let buf = '', text = '', done = false, chunks = 0;
    const handle = (data) => {
      if (data === '[DONE]') { done = true; return; }
      let j;
      try { j = JSON.parse(data); } catch (e) { throw new Error(`bad stream chunk: ${data.slice(0, 120)}`); }
      if (j.error) throw new Error(j.error.message || 'error in stream');
      const ch = j.choices && j.choices[0];
      if (ch && ch.delta && typeof ch.delta.content === 'string') {
        text += ch.delta.content;
        body.textContent = text;
        chunks++;
        body.dataset.chunks = String(chunks);   // lets a test see that the answer came in pieces
        scrollChat();
      }
      if (Array.isArray(j.items)) onItems(j.items);
    };
    while (!done) {
      const r = await reader.read();
      if (r.done) break;
      buf += dec.decode(r.value, { stream: true });
      let cut;
      while ((cut = buf.search(/\r?\n\r?\n/)) >= 0) {
        const event = buf.slice(0, cut);
        buf = buf.slice(cut).replace(/^\r?\n\r?\n/, '');
        const data = event.split(/\r?\n/).filter((l) => l.startsWith('data:'))
          .map((l) => l.slice(5).replace(/^ /, '')).join('\n');
        if (data) handle(data);
        if (done) break;
      }
    }
    if (!done && buf.trim().startsWith('data:')) handle(buf.trim().slice(5).trim());
    try { reader.cancel(); } catch (e) { /* already closed */ }
    return text;
  }

  async function sendChat(text) {
    clearError();
    state.messages.push({ role: 'user', content: text });
    chatBubble('user', text);
    const bubble = chatBubble('assistant', '');
    bubble.dataset.state = 'pending';
    const body = bubble.querySelector('.msg-text');
    body.classList.add('typing');
    const stream = $('chat-stream').checked;
    const ctl = new AbortController();
    state.chatAbort = ctl;
    const timer = setTimeout(() => ctl.abort(), CHAT_TIMEOUT_MS);
    setChatBusy(true);
    let items = null;
    try {
      const res = await fetch('/v1/chat/completions', {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({ model: state.model || 'semid', messages: state.messages, stream }),
        signal: ctl.signal,
      });
      if (!res.ok) throw new Error(await errorOf(res));
      let answer;
      if (stream) {
        answer = await readStream(res, body, (it) => { items = it; });
      } else {
        const j = await res.json();
        answer = (j.choices && j.choices[0] && j.choices[0].message && j.choices[0].message.content) || '';
        items = j.items;
        body.textContent = answer;
      }
      body.classList.remove('typing');
      state.messages.push({ role: 'assistant', content: answer });
      finishAnswer(bubble, items, null);
    } catch (e) {
      body.classList.remove('typing');
      const msg = e.name === 'AbortError' ? 'The answer was stopped (no reply in time, or Stop was pressed).'
        : `Chat failed: ${e.message}`;
      state.messages.pop();   // the turn without an answer is not kept in the conversation
      finishAnswer(bubble, items, msg);
    } finally {
      clearTimeout(timer);
      state.chatAbort = null;
      setChatBusy(false);
    }
  }

  function setChatBusy(busy) {
    $('chat-send').disabled = busy;
    $('chat-stop').hidden = !busy;
    $('chat-form').setAttribute('aria-busy', busy ? 'true' : 'false');
  }

  $('chat-form').addEventListener('submit', (ev) => {
    ev.preventDefault();
    const text = $('chat-input').value.trim();
    if (!text || state.chatAbort) return;
    $('chat-input').value = '';
    sendChat(text);
  });
  $('chat-input').addEventListener('keydown', (ev) => {
    if (ev.key === 'Enter' && !ev.shiftKey && !ev.isComposing) {
      ev.preventDefault();
      $('chat-form').requestSubmit();
    }
  });
  $('chat-stop').addEventListener('click', () => { if (state.chatAbort) state.chatAbort.abort(); });
  $('chat-clear').addEventListener('click', () => {
    if (state.chatAbort) state.chatAbort.abort();
    state.messages = [];
    const log = $('chat-log');
    log.textContent = '';
    const p = document.createElement('p');
    p.className = 'placeholder';
    p.id = 'chat-empty';
    p.textContent = 'New conversation. Ask for a recommendation.';
    log.appendChild(p);
  });

  // ---- history builder ----
  /* One row of the history or the search results: the item's title and one button. */
  function itemRow(it, rowKind, titleKind, button) {
    const li = document.createElement('li');
    li.className = rowKind;
    li.dataset.testid = rowKind;
    li.dataset.extId = it.ext_id;
    const t = document.createElement('span');
    t.className = titleKind;
    t.dataset.testid = titleKind;
    t.textContent = it.title || it.ext_id;
    t.title = it.ext_id;
    const b = document.createElement('button');
    b.type = 'button';
    b.className = button.cls;
    b.dataset.testid = button.testid;
    b.textContent = button.text;
    b.setAttribute('aria-label', button.label);
    b.addEventListener('click', button.onClick);
    li.append(t, b);
    return li;
  }

  function renderHistory() {
    const ol = $('history-list');
    ol.textContent = '';
    state.history.forEach((it, i) => {
      ol.appendChild(itemRow(it, 'history-item', 'history-title', {
        cls: 'small-button remove', testid: 'history-remove', text: 'Remove',
        label: `Remove ${it.title || it.ext_id} from the history`,
        onClick: () => { state.history.splice(i, 1); renderHistory(); },
      }));
    });
    $('history-count').textContent = String(state.history.length);
    $('history-empty').hidden = state.history.length > 0;
  }

  function addHistory(item) {
    if (!item || !item.ext_id) return;
    if (state.history.some((h) => h.ext_id === item.ext_id)) return;
    state.history.push({ ext_id: item.ext_id, title: item.title || item.ext_id });
    renderHistory();
  }

  async function search(q) {
    const seq = ++state.searchSeq;
    const status = $('search-status');
    const ul = $('search-results');
    if (!q) { ul.textContent = ''; status.textContent = ''; return; }
    status.textContent = 'Searching…';
    try {
      const j = await callJson(`/v1/items?q=${encodeURIComponent(q)}&limit=8`);
      if (seq !== state.searchSeq) return;   // a newer query is on its way
      ul.textContent = '';
      const items = Array.isArray(j.items) ? j.items : [];
      status.textContent = items.length ? `${items.length} match${items.length > 1 ? 'es' : ''}` : 'No item matches.';
      items.forEach((it) => {
        ul.appendChild(itemRow(it, 'search-result', 'search-title', {
          cls: 'small-button', testid: 'search-add', text: 'Add',
          label: `Add ${it.title || it.ext_id} to the history`, onClick: () => addHistory(it),
        }));
      });
      status.dataset.state = 'done';
    } catch (e) {
      if (seq !== state.searchSeq) return;
      status.textContent = 'Search failed.';
      status.dataset.state = 'error';
      showError(`Search failed: ${e.message}`);
    }
  }

  let searchTimer = null;
  $('history-search').addEventListener('input', (ev) => {
    clearTimeout(searchTimer);
    $('search-status').dataset.state = 'pending';
    const q = ev.target.value.trim();
    searchTimer = setTimeout(() => search(q), 200);
  });
  $('history-search').addEventListener('keydown', (ev) => {
    if (ev.key === 'Enter') { ev.preventDefault(); clearTimeout(searchTimer); search(ev.target.value.trim()); }
  });

  // ---- recommendations ----
  async function recommend(prompt) {
    clearError();
    const seq = ++state.recSeq;
    const status = $('rec-status');
    const ol = $('rec-results');
    if (!state.history.length && !prompt) {
      status.dataset.state = 'error';
      status.textContent = 'Add at least one item to the history first.';
      showError('Add at least one item to the history (or write a steering prompt) before asking for recommendations.');
      return;
    }
    let k = parseInt($('rec-k').value, 10);
    if (!(k >= 1 && k <= 50)) { k = 10; $('rec-k').value = '10'; }
    const req = {
      history: state.history.map((h) => h.ext_id), k, exclude_history: $('rec-exclude').checked,
    };
    if (prompt) req.prompt = prompt;
    status.dataset.state = 'pending';
    status.textContent = 'Thinking…';
    $('recommend-button').disabled = true;
    $('steer-button').disabled = true;
    try {
      const j = await postJson('/v1/recommend', req);
      if (seq !== state.recSeq) return;
      const items = Array.isArray(j.items) ? j.items : [];
      ol.textContent = '';
      items.forEach((it, i) => {
        if (it.rank === undefined) it.rank = i + 1;
        ol.appendChild(makeCard(it));
      });
      const n = state.history.length;
      status.textContent = `${items.length} for a history of ${n} item${n === 1 ? '' : 's'}` +
        (prompt ? `, steered by “${prompt}”` : '');
      status.dataset.state = 'done';
    } catch (e) {
      if (seq !== state.recSeq) return;
      status.textContent = 'No recommendations.';
      status.dataset.state = 'error';
      showError(`Recommendation failed: ${e.message}`);
    } finally {
      $('recommend-button').disabled = false;
      $('steer-button').disabled = false;
    }
  }

  $('recommend-button').addEventListener('click', () => recommend(null));
  $('steer-form').addEventListener('submit', (ev) => {
    ev.preventDefault();
    const p = $('steer-input').value.trim();
    if (!p) {
      showError('Write a steering prompt first, e.g. “but for Xbox”.');
      return;
    }
    recommend(p);
  });

  // ---- start ----
  async function start() {
    renderHistory();
    try {
      const j = await callJson('/v1/models');
      const m = j.data && j.data[0] && j.data[0].id;
      if (m) { state.model = m; $('model-name').textContent = `model: ${m}`; }
      else $('model-name').textContent = 'model: (none listed)';
    } catch (e) {
      $('model-name').textContent = 'model: unavailable';
      showError(`The server did not list its model: ${e.message}`);
    }
    /* The report is optional (semid report writes it); a missing one is marked, not an error. */
    try {
      const r = await fetch('/report', { method: 'GET' });
      if (!r.ok) {
        $('report-link').classList.add('unavailable');
        $('report-link').title = 'No report in this work directory yet (semid report writes it)';
      }
      try { r.body && r.body.cancel(); } catch (e) { /* nothing to cancel */ }
    } catch (e) { /* the link stays as it is */ }
    document.body.dataset.ready = 'true';
  }
  start();
})();
