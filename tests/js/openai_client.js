// A real OpenAI client against `semid serve` (run by tests/test_serve.c):
//   node openai_client.js BASE_URL API_KEY EXT_ID
// a chat, the same chat streamed (the deltas make the same text), the error classes of a bad key
// (401) and a bad request (400), and fetch for /v1/recommend. Exits 1 on the first mismatch.
'use strict';
const OpenAI = require('openai');
const assert = require('assert/strict');

const [base, key, ext] = process.argv.slice(2);
if (!base || !key || !ext) {
  console.error('usage: node openai_client.js BASE_URL API_KEY EXT_ID');
  process.exit(2);
}

async function main() {
  const client = new OpenAI({ baseURL: `${base}/v1`, apiKey: key, maxRetries: 0, timeout: 120000 });
  const models = await client.models.list();
  assert.equal(models.data.length, 1);
  const model = models.data[0].id;

  const ask = { model, messages: [{ role: 'user', content: 'Recommend me a game' }], temperature: 0, max_tokens: 24 };
  const r = await client.chat.completions.create(ask);
  assert.equal(r.object, 'chat.completion');
  assert.equal(r.choices[0].message.role, 'assistant');
  assert.equal(typeof r.choices[0].message.content, 'string');
  assert.ok(['stop', 'length'].includes(r.choices[0].finish_reason));
  assert.equal(r.usage.total_tokens, r.usage.prompt_tokens + r.usage.completion_tokens);
  assert.ok(Array.isArray(r.items), 'the extra items field');

  const stream = await client.chat.completions.create({ ...ask, stream: true, stream_options: { include_usage: true } });
  let text = '', role = null, finish = null, usage = null, chunks = 0;
  for await (const chunk of stream) {
    chunks++;
    assert.equal(chunk.object, 'chat.completion.chunk');
    if (chunk.usage) usage = chunk.usage;
    const c = chunk.choices[0];
    if (!c) continue;
    if (c.delta.role) role = c.delta.role;
    if (c.delta.content) text += c.delta.content;
    if (c.finish_reason) finish = c.finish_reason;
  }
  assert.equal(role, 'assistant');
  assert.equal(text, r.choices[0].message.content, 'streamed deltas make the whole answer');
  assert.equal(finish, r.choices[0].finish_reason);
  assert.equal(usage.completion_tokens, r.usage.completion_tokens);
  assert.ok(chunks >= 3);

  const bad = new OpenAI({ baseURL: `${base}/v1`, apiKey: 'wrong-key', maxRetries: 0 });
  await assert.rejects(bad.chat.completions.create(ask), (e) => e instanceof OpenAI.AuthenticationError && e.status === 401);
  await assert.rejects(client.chat.completions.create({ ...ask, messages: [] }),
    (e) => e instanceof OpenAI.BadRequestError && e.status === 400 && e.param === 'messages');
  await assert.rejects(client.chat.completions.create({ ...ask, n: 3 }), (e) => e instanceof OpenAI.BadRequestError);

  const res = await fetch(`${base}/v1/recommend`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${key}` },
    body: JSON.stringify({ history: [ext], prompt: 'for PC', k: 3 }),
  });
  assert.equal(res.status, 200);
  const j = await res.json();
  assert.equal(j.items.length, 3);
  assert.deepEqual(j.items.map((i) => i.rank), [1, 2, 3]);
  assert.ok(j.items.every((i) => i.ext_id !== ext && typeof i.title === 'string' && i.score < 0));
  const miss = await fetch(`${base}/v1/recommend`, {
    method: 'POST', headers: { Authorization: `Bearer ${key}` }, body: JSON.stringify({ history: ['no-such-id'] }),
  });
  assert.equal(miss.status, 422);
  assert.match((await miss.json()).error.message, /no-such-id/);
  console.log('openai client: ok');
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
