#!/usr/bin/env node
// The JavaScript driver of the state-sync conformance kit
// (docs/driver-protocol.md, protocol version 1).
//
//   node driver.mjs path/to/engine.mjs
//   state-sync-conformance run --driver "node driver.mjs path/to/engine.mjs"
//
// It adapts any engine module with the design documents' API:
//
//   createRevisionSync({ topic, subscriber, provider, applier,
//                        shouldRefresh, throttling, onError, logger })
//     -> { start, stop, refresh, getLocalRevision }
//
// (`throttling`: `{ debounceMs }` or `{ throttleMs, leading, trailing }`)
// and, when the module has them, `withRetry(provider, policy)` (the retry
// wrapper), `parseRevision(value)` (the revision parser, for the golden
// vectors), and the handle's `getLifecycle()` and `getMetrics()`. What the
// module lacks is left out of the capabilities the driver claims: a
// missing function is seen; an option the module ignores is not, so a
// module without `throttling` says so with `export const lacks =
// ['throttle']`. The kit reports specs whose steps need what is missing as
// unsupported, and skips expectations reading a missing accessor.
//
// Plain Node.js >= 20, standard library only. The engine's timers run on
// the kit's virtual clock (./clock.mjs).

import { createInterface } from 'node:readline';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';

import { VirtualClock, drain } from './clock.mjs';

const PROTOCOL_VERSION = 1;
const DRIVER_VERSION = '0.1.0';
/** Payloads nested deeper than this travel as text (kit side too). */
const TEXT_DEPTH = 64;

function write(message) {
  process.stdout.write(`${JSON.stringify(message)}\n`);
}

function fatal(why) {
  process.stderr.write(`state-sync js driver: ${why}\n`);
  process.exit(2);
}

const enginePath = process.argv[2];
if (!enginePath) fatal('usage: node driver.mjs <engine module>');

const clock = new VirtualClock();
clock.install();

let engine;
try {
  engine = await import(pathToFileURL(resolve(enginePath)).href);
} catch (e) {
  fatal(`could not load the engine module ${enginePath}: ${e && e.stack ? e.stack : e}`);
}
if (typeof engine.createRevisionSync !== 'function') {
  fatal(`${enginePath} does not export createRevisionSync`);
}

// What the handle offers, from an engine made and never started.
const probe = engine.createRevisionSync({
  topic: 'probe',
  subscriber: { subscribe: async () => () => {} },
  provider: { getSnapshot: async () => ({ revision: '0', data: null }) },
  applier: { apply: () => {} },
});
const lacks = new Set(Array.isArray(engine.lacks) ? engine.lacks.map(String) : []);
const capabilities = ['virtual_clock'];
if (!lacks.has('throttle')) capabilities.push('throttle');
if (typeof engine.withRetry === 'function') capabilities.push('retry');
if (typeof engine.parseRevision === 'function') capabilities.push('revision_parser');
if (typeof probe.getLifecycle === 'function') capabilities.push('lifecycle');
if (typeof probe.getMetrics === 'function') capabilities.push('metrics');

write({
  type: 'hello',
  protocol: PROTOCOL_VERSION,
  name: String(engine.name ?? 'js-engine').replace(/[^A-Za-z0-9_-]/g, '-'),
  version: String(engine.version ?? DRIVER_VERSION),
  language: 'javascript',
  capabilities,
});

// ---------------------------------------------------------------------
// Requests to the kit, answered by its commands.

let nextRequest = 0;
const waiting = new Map(); // request id -> resolve(answer)
const handlers = new Map(); // subscription id -> the engine's handler
const phaseOf = new WeakMap(); // error thrown by a port -> its phase

function request(make) {
  const id = ++nextRequest;
  return {
    id,
    answer: new Promise((resolveAnswer) => {
      waiting.set(id, resolveAnswer);
      write(make(id));
    }),
  };
}

function portError(wire, phase) {
  const e = new Error(wire.message);
  if (wire.detail !== undefined) e.detail = wire.detail;
  phaseOf.set(e, phase);
  return e;
}

function ports(window) {
  return {
    subscriber: {
      subscribe(handler) {
        const id = nextRequest + 1;
        handlers.set(id, handler);
        const r = request((request) => ({ type: 'subscribe', window, request }));
        return r.answer.then((answer) => {
          if (answer.error) {
            handlers.delete(r.id);
            throw portError(answer.error, 'subscribe');
          }
          let done = false;
          return () => {
            if (done) return;
            done = true;
            handlers.delete(r.id);
            write({ type: 'unsubscribe', subscription: r.id });
          };
        });
      },
    },
    provider: {
      getSnapshot() {
        const r = request((request) => ({ type: 'get_snapshot', window, request }));
        return r.answer.then((answer) => {
          if ('error' in answer.result) throw portError(answer.result.error, 'getSnapshot');
          return answer.result.ok;
        });
      },
    },
    applier: {
      apply(envelope) {
        const r = request((request) => ({
          type: 'apply',
          window,
          request,
          revision: String(envelope?.revision),
          // A snapshot's epoch (SNAP-4), when the engine passes it on.
          ...(envelope?.epoch !== undefined && String(envelope.epoch) !== '0' ? { epoch: String(envelope.epoch) } : {}),
          data: envelope?.data === undefined ? null : envelope.data,
        }));
        return r.answer.then((answer) => {
          if (answer.error) throw portError(answer.error, 'apply');
        });
      },
    },
  };
}

// ---------------------------------------------------------------------
// Windows.

const windows = new Map(); // name -> { handle, reported }
const DELIBERATE = 'state-sync js driver: deliberate throw';

function filterOf(spec) {
  if (spec == null) return undefined;
  const sourceId = (e) => (e && typeof e === 'object' && typeof e.sourceId === 'string' ? e.sourceId : undefined);
  if (spec === 'never') return () => false;
  if (spec === 'panic') {
    return () => {
      throw new Error(`${DELIBERATE} in shouldRefresh`);
    };
  }
  if ('ignore_source_id' in spec) return (e) => sourceId(e) !== spec.ignore_source_id;
  if ('only_source_id' in spec) return (e) => sourceId(e) === spec.only_source_id;
  throw new Error(`unknown should_refresh filter ${JSON.stringify(spec)}`);
}

function revisionText(r) {
  return r === undefined || r === null ? undefined : String(r);
}

function depth(v) {
  let deepest = 0;
  const stack = [[v, 1]];
  while (stack.length) {
    const [x, d] = stack.pop();
    deepest = Math.max(deepest, d);
    if (x && typeof x === 'object') for (const y of Object.values(x)) stack.push([y, d + 1]);
  }
  return deepest;
}

/** Payloads that arrived as text, and that text. */
const deliveredText = new WeakMap();

function stringify(value) {
  try {
    return JSON.stringify(value);
  } catch {
    return '"(too deeply nested to show)"';
  }
}

function errorReport(ctx) {
  const error = ctx?.error;
  const report = {
    phase: String(ctx?.phase),
    topic: String(ctx?.topic ?? ''),
    message: String(error?.message ?? ctx?.message ?? error),
  };
  if (error && typeof error === 'object' && error.detail !== undefined) report.detail = error.detail;
  const revisions = [
    ['local_revision', ctx?.localRevision],
    ['event_revision', ctx?.eventRevision],
    ['snapshot_revision', ctx?.snapshotRevision],
  ];
  for (const [field, value] of revisions) {
    const text = revisionText(value);
    if (text !== undefined) report[field] = text;
  }
  if (ctx && 'sourceEvent' in ctx && ctx.sourceEvent !== undefined) {
    const event = ctx.sourceEvent;
    if (depth(event) <= TEXT_DEPTH) report.source_event = event;
    else report.source_event_text = deliveredText.get(event) ?? stringify(event);
  }
  if (typeof ctx?.sourceId === 'string') report.source_id = ctx.sourceId;
  if (Number.isInteger(ctx?.attempt)) report.attempt = ctx.attempt;
  if (typeof ctx?.willRetry === 'boolean') report.will_retry = ctx.willRetry;
  return report;
}

/** The `throttling` option of the original API for a kit `throttle`. */
function throttlingOf(throttle) {
  if (!throttle) return {};
  if (Number.isInteger(throttle.debounce_ms)) return { throttling: { debounceMs: throttle.debounce_ms } };
  const t = throttle.throttle;
  if (t && Number.isInteger(t.interval_ms)) {
    return { throttling: { throttleMs: t.interval_ms, leading: t.leading !== false, trailing: t.trailing !== false } };
  }
  fatal(`unknown throttle option ${JSON.stringify(throttle)}`);
  return {};
}

function open(name, topic, options) {
  let { subscriber, provider, applier } = ports(name);
  if (options.retry) {
    provider = engine.withRetry(provider, {
      maxAttempts: options.retry.max_attempts,
      baseDelayMs: options.retry.base_delay_ms,
      maxDelayMs: options.retry.max_delay_ms,
      seed: options.retry_seed,
    });
  }
  const handle = engine.createRevisionSync({
    topic,
    subscriber,
    provider,
    applier,
    shouldRefresh: filterOf(options.should_refresh),
    ...throttlingOf(options.throttle),
    onError(ctx) {
      write({ type: 'error', window: name, report: errorReport(ctx) });
      if (options.panicking_error_hook) throw new Error(`${DELIBERATE} in onError`);
    },
    logger: { debug() {}, info() {}, warn() {}, error() {} },
  });
  windows.set(name, { handle, reported: null });
}

function call(call, run) {
  let promise;
  try {
    promise = Promise.resolve(run());
  } catch (e) {
    promise = Promise.reject(e);
  }
  promise.then(
    () => write({ type: 'result', call }),
    (e) => {
      const phase = phaseOf.get(e) ?? e?.phase ?? 'start';
      write({ type: 'result', call, error: { phase: String(phase), message: String(e?.message ?? e) } });
    },
  );
}

function reportStates() {
  for (const [name, w] of [...windows].sort(([a], [b]) => (a < b ? -1 : 1))) {
    const state = { type: 'state', window: name, local_revision: String(w.handle.getLocalRevision()) };
    if (typeof w.handle.getLocalEpoch === 'function') {
      const epoch = String(w.handle.getLocalEpoch());
      if (epoch !== '0') state.local_epoch = epoch;
    }
    if (typeof w.handle.getLifecycle === 'function') state.lifecycle = String(w.handle.getLifecycle());
    if (typeof w.handle.getMetrics === 'function') state.metrics = w.handle.getMetrics();
    const text = JSON.stringify(state);
    if (text !== w.reported) {
      w.reported = text;
      write(state);
    }
  }
}

function windowOf(name) {
  const w = windows.get(name);
  if (!w) throw new Error(`no window ${JSON.stringify(name)} is open`);
  return w;
}

function answer(id, value) {
  const resolveAnswer = waiting.get(id);
  if (!resolveAnswer) return false;
  waiting.delete(id);
  resolveAnswer(value);
  return true;
}

function handle(command) {
  switch (command.type) {
    case 'open':
      open(command.window, command.topic, command.options ?? {});
      break;
    case 'start':
      call(command.call, () => windowOf(command.window).handle.start());
      break;
    case 'refresh':
      call(command.call, () => windowOf(command.window).handle.refresh());
      break;
    case 'stop':
      windowOf(command.window).handle.stop();
      break;
    case 'subscribed':
      if (!answer(command.request, command) && !command.error) {
        write({ type: 'unsubscribe', subscription: command.request });
      }
      break;
    case 'deliver': {
      const handler = handlers.get(command.subscription);
      if (!handler) break;
      let payload = command.payload;
      if (typeof command.text === 'string') {
        try {
          payload = JSON.parse(command.text);
          if (payload !== null && typeof payload === 'object') deliveredText.set(payload, command.text);
        } catch {
          payload = command.text;
        }
      }
      try {
        handler(payload);
      } catch (e) {
        // The engine let an exception escape into its subscriber callback:
        // a transport survives it; the checks show what the engine missed.
        process.stderr.write(`state-sync js driver: the engine's subscriber callback threw: ${e?.stack ?? e}\n`);
      }
      break;
    }
    case 'snapshot':
    case 'applied':
      answer(command.request, command);
      break;
    case 'parse_revision': {
      let result;
      try {
        result = { ok: String(engine.parseRevision(command.input)) };
      } catch (e) {
        result = { error: { message: String(e?.reason ?? e?.code ?? e?.message ?? e) } };
      }
      write({ type: 'parsed', seq: command.seq, result });
      break;
    }
    case 'advance':
    case 'quit':
      break;
    default:
      throw new Error(`unknown command type ${JSON.stringify(command.type)}`);
  }
}

/** Lets the engines run until idle, firing timers due at this moment. */
async function settle() {
  for (;;) {
    await drain();
    const next = clock.nextTimer();
    if (next === null || next > clock.now) return;
    await clock.advanceTo(clock.now);
  }
}

// ---------------------------------------------------------------------
// The command loop: a batch's commands are handled one after the other,
// then the engines run until idle, then the batch is acknowledged.

process.on('uncaughtException', (e) => {
  if (String(e?.message).includes(DELIBERATE)) return;
  fatal(`uncaught: ${e && e.stack ? e.stack : e}`);
});
process.on('unhandledRejection', (e) => {
  if (String(e?.message).includes(DELIBERATE)) return;
  process.stderr.write(`state-sync js driver: unhandled rejection: ${e && e.stack ? e.stack : e}\n`);
});

const batches = [];
let batch = [];
let wake = null;
let ended = false;

const lines = createInterface({ input: process.stdin, crlfDelay: Infinity });
lines.on('line', (line) => {
  if (!line.trim()) return;
  let command;
  try {
    command = JSON.parse(line);
  } catch (e) {
    fatal(`not a command (${e.message}): ${line.slice(0, 200)}`);
  }
  batch.push(command);
  if (command.last || command.type === 'quit') {
    batches.push(batch);
    batch = [];
    if (wake) wake();
  }
});
lines.on('close', () => {
  ended = true;
  if (wake) wake();
});

for (;;) {
  if (batches.length === 0) {
    if (ended) break;
    await new Promise((r) => {
      wake = r;
    });
    wake = null;
    continue;
  }
  const commands = batches.shift();
  let quit = false;
  for (const command of commands) {
    await clock.advanceTo(command.now_ms);
    try {
      handle(command);
    } catch (e) {
      fatal(`command ${command.seq}: ${e && e.stack ? e.stack : e}`);
    }
    quit ||= command.type === 'quit';
  }
  await settle();
  reportStates();
  const done = { type: 'done', seq: commands[commands.length - 1].seq };
  const next = clock.nextTimer();
  if (next !== null && next > clock.now) done.timer_ms = Math.ceil(next);
  write(done);
  if (quit) break;
}
// Exit once everything written has reached the pipe.
process.stdout.write('', () => process.exit(0));
