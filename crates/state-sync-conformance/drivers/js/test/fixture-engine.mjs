// FIXTURE — NOT A PRODUCT. A small JavaScript engine written for the JS
// driver's own test, from the design documents' contract (the
// `createRevisionSync` API of the original TypeScript design, and the
// clauses of docs/protocol.md and docs/lifecycle.md). It exists so that
// CI can run the driver against something; it is deliberately simple
// (no throttle, no stale-snapshot refetch, no metrics), and the specs it
// does not meet are listed in the driver's README.

export const name = 'js-fixture';
export const version = '0.0.0-fixture';
/** The part of the original API this fixture does not implement. */
export const lacks = ['throttle'];

// Faults the protocol forbids, switched on by name in
// STATE_SYNC_FIXTURE_BUGS (comma-separated), so that the kit's own tests
// can show it catches each by running (tests/drivers.rs). Two are
// behaviours of the original TypeScript engine:
// * `lost-follow-up`: a failed fetch drops the follow-up queued behind it
//   (its callers resolve, nothing fetches: a lost update, CO-2);
// * `leak-on-stop-during-subscribe`: `stop()` landing while `subscribe` is
//   pending keeps the subscription that arrives afterwards (LIFE-7: the
//   engine holds it; the transport only counts it).
// The others are one broken rule each, named for what they do:
// `applies-older-snapshots` (GATE-1), `refreshes-on-old-events` (GATE-2),
// `ignores-topic` (GATE-3), `ignores-should-refresh` (GATE-4),
// `fetch-per-event` (CO-1), `no-follow-up` (CO-2), `applies-after-stop`
// (STOP-1), `keeps-subscription-on-stop` (LIFE-7), `no-rollback` (LIFE-4),
// `start-resolves-early` (LIFE-2), `fetches-before-subscribing` (LIFE-1),
// `start-after-stop-subscribes` (LIFE-6), `refresh-after-stop-fetches`
// (LIFE-9), `silent-garbage` (ERR-1), `reports-twice` (ERR-2),
// `deaf-after-failure` (ERR-4), `refresh-resolves-early` (CO-2),
// `numeric-revisions` (REV-5), `accepts-leading-zeros` (REV-2),
// `accepts-overflow` (REV-3), `accepts-numeric-revisions` (REV-4),
// `accepts-blank-topic` (EVT-2), `rejects-non-string-source-id` (EVT-4),
// `rejects-unknown-fields` (EVT-5), `accepts-snapshot-without-data`
// (SNAP-1), `raw-revision-in-context` (a protocol error's context carries
// the event's raw, non-canonical revision: ERR-2 — the engine's fault,
// never the driver's), `redundant-follow-up` (a follow-up fetch for
// invalidations the fetch in flight already covered: CO-2's last
// sentence), `refresh-joins-running-fetch` (`refresh()` resolves with the
// fetch already running, not the follow-up that answers it: CO-2),
// `second-start-after-failure-resolves` (a start after a failed one
// resolves without subscribing or fetching: LIFE-4, a failed start leaves
// the handle ready to start again), `filter-throw-escapes` (a throwing
// `shouldRefresh` escapes into the transport's callback instead of being
// reported: ERR-3),
// `start-hangs-on-stop` (a stop during a pending subscribe or initial
// fetch leaves start waiting for it: LIFE-4), `stop-keeps-retry-waiting`
// (the retry wrapper's wait outlives stop and fetches again: STOP-2),
// `ignores-epoch` (positions compare revisions only: the engine keeps its
// old revision across a source restarted without its history, and is
// stranded there, GATE-6 — what the original TypeScript engine does too).
// One breaks only a SHOULD clause, so that the kit's grading can
// be shown to list it rather than fail the run: `retry-without-attempts`
// (the retry wrapper's final error carries no attempt count, RETRY-2).
const bugs = new Set(
  (globalThis.process?.env?.STATE_SYNC_FIXTURE_BUGS ?? '')
    .split(',')
    .map((b) => b.trim())
    .filter(Boolean),
);

// STATE_SYNC_FIXTURE_API=original: only what the original TypeScript
// engine's handle exposes (`start`, `stop`, `refresh`, `getLocalRevision`):
// no lifecycle accessor, so the kit's `lifecycle` expectations go unchecked
// and every other check must still catch the faults above.
const originalApi = globalThis.process?.env?.STATE_SYNC_FIXTURE_API === 'original';

const U64_MAX = (1n << 64n) - 1n;

/** The canonical revision string `value` is, or throws with `reason`. */
export function parseRevision(value) {
  const fail = (reason) => {
    const e = new Error(`invalid revision: ${reason}`);
    e.reason = reason;
    throw e;
  };
  if (typeof value === 'number' && bugs.has('accepts-numeric-revisions')) value = String(value);
  if (typeof value !== 'string') fail('not_a_string');
  if (value.length === 0) fail('empty');
  if (!/^[0-9]+$/.test(value)) fail('not_digits');
  if (value.length > 1 && value[0] === '0' && !bugs.has('accepts-leading-zeros')) fail('leading_zero');
  if (BigInt(value) > U64_MAX && !bugs.has('accepts-overflow')) fail('overflow');
  return value;
}

function isCanonical(value) {
  try {
    parseRevision(value);
    return true;
  } catch {
    return false;
  }
}

function newer(a, b) {
  if (bugs.has('numeric-revisions')) return Number(a) > Number(b);
  return BigInt(a) > BigInt(b);
}

/** An envelope's epoch: '0' when absent, the canonical string, or null when invalid (EVT-8, SNAP-4). */
function epochOf(envelope) {
  if (!('epoch' in envelope)) return '0';
  return isCanonical(envelope.epoch) ? envelope.epoch : null;
}

/** Whether position `a` ({epoch, revision}) is after `b`: epoch first (GATE-6). */
function after(a, b) {
  if (!bugs.has('ignores-epoch') && a.epoch !== b.epoch) return BigInt(a.epoch) > BigInt(b.epoch);
  return newer(a.revision, b.revision);
}

/** The retry wrapper: exponential back-off with equal jitter, seeded. */
export function withRetry(provider, policy = {}) {
  const maxAttempts = policy.maxAttempts ?? 3;
  const base = policy.baseDelayMs ?? 100;
  const cap = policy.maxDelayMs ?? 2000;
  let state = BigInt.asUintN(64, BigInt(policy.seed ?? 0x5eed) || 1n);
  const random = () => {
    state ^= BigInt.asUintN(64, state << 13n);
    state ^= state >> 7n;
    state ^= BigInt.asUintN(64, state << 17n);
    return Number(state % 1000000n) / 1000000;
  };
  return {
    async getSnapshot(context) {
      const signal = bugs.has('stop-keeps-retry-waiting') ? undefined : context?.signal;
      for (let attempt = 1; ; attempt++) {
        try {
          return await provider.getSnapshot(context);
        } catch (e) {
          if (attempt >= maxAttempts) {
            if (e && typeof e === 'object' && !bugs.has('retry-without-attempts')) e.attempt = attempt;
            throw e;
          }
          const d = Math.min(cap, base * 2 ** (attempt - 1));
          const delay = Math.round(d / 2 + random() * (d / 2));
          // The engine's stop aborts the wait (STOP-2).
          await new Promise((resolve, reject) => {
            if (signal?.aborted) return reject(e);
            const timer = setTimeout(resolve, delay);
            signal?.addEventListener('abort', () => {
              clearTimeout(timer);
              reject(e);
            });
          });
        }
      }
    },
  };
}

/** What a pending subscribe loses to when stop() lands first. */
const STOPPED = Symbol('stopped');

function protocolError(message) {
  const e = new Error(message);
  e.phase = 'protocol';
  return e;
}

export function createRevisionSync(options) {
  const { topic, subscriber, provider, applier, shouldRefresh, onError } = options;
  let lifecycle = 'idle';
  let local = null; // the position of the last apply: {epoch, revision}
  let unsubscribe = null;
  let starting = null; // the running start's promise
  let fetching = false;
  let followUp = null; // { promise, resolve, reject } of the queued fetch
  // What the requests queued behind the fetch in flight were: any that is
  // not an invalidation (a refresh call, a start) needs the follow-up; if
  // all are, the newest revision they announced (CO-2's exception).
  let followUpNeeded = false;
  let followUpAnnounced = null;
  let running = null; // the deferred of the fetch in flight
  let failedStart = false; // a start of this handle failed
  const stopped = deferred(); // resolves with STOPPED when stop() is called
  const aborter = new AbortController(); // aborted by stop(): retry waits end
  let generation = 0; // bumped by a failed start and by stop
  let deaf = false; // only under the `deaf-after-failure` fault

  function report(ctx) {
    for (let i = bugs.has('reports-twice') ? 2 : 1; i > 0; i--) {
      try {
        onError?.({ topic, localRevision: local?.revision, ...ctx });
      } catch {
        // a throwing hook never stops the engine
      }
    }
  }

  /** `promise`, or STOPPED as soon as stop() is called (start's waits). */
  function untilStopped(promise) {
    if (bugs.has('start-hangs-on-stop')) return promise;
    return Promise.race([promise, stopped.promise]);
  }

  function deferred() {
    let resolve;
    let reject;
    const promise = new Promise((a, b) => {
      resolve = a;
      reject = b;
    });
    promise.catch(() => {});
    return { promise, resolve, reject };
  }

  async function fetchOnce(gen) {
    let envelope;
    try {
      envelope = await provider.getSnapshot({ signal: aborter.signal });
    } catch (error) {
      if (gen === generation) report({ phase: 'getSnapshot', error, attempt: error?.attempt, willRetry: false });
      throw error;
    }
    if (gen !== generation && !bugs.has('applies-after-stop')) return;
    const valid =
      envelope !== null &&
      typeof envelope === 'object' &&
      !Array.isArray(envelope) &&
      isCanonical(envelope.revision) &&
      epochOf(envelope) !== null &&
      ('data' in envelope || bugs.has('accepts-snapshot-without-data'));
    if (!valid) {
      const error = protocolError('invalid snapshot: expected {revision: canonical string, epoch?: canonical string, data}');
      report({ phase: 'protocol', error });
      throw error;
    }
    const at = { epoch: epochOf(envelope), revision: envelope.revision };
    if (local !== null && !after(at, local) && !bugs.has('applies-older-snapshots')) return;
    try {
      await applier.apply({ revision: envelope.revision, epoch: at.epoch, data: envelope.data });
    } catch (error) {
      if (gen === generation) report({ phase: 'apply', error, snapshotRevision: envelope.revision });
      throw error;
    }
    if (gen === generation || lifecycle !== 'stopped') local = at;
  }

  /**
   * One fetch now, or the follow-up queued behind the one in flight.
   * `announced`: the position of the invalidation asking, if one is.
   */
  function requestRefresh(announced) {
    if (fetching && bugs.has('no-follow-up')) return Promise.resolve();
    if (fetching && !bugs.has('fetch-per-event')) {
      followUp ??= deferred();
      if (announced === undefined || bugs.has('redundant-follow-up')) {
        followUpNeeded = true;
      } else if (followUpAnnounced === null || after(announced, followUpAnnounced)) {
        followUpAnnounced = announced;
      }
      if (announced === undefined && bugs.has('refresh-joins-running-fetch')) return running.promise;
      return followUp.promise;
    }
    fetching = true;
    const first = deferred();
    (async () => {
      let current = first;
      for (;;) {
        running = current;
        const gen = generation;
        let ok = false;
        try {
          await fetchOnce(gen);
          ok = true;
          current.resolve();
        } catch (e) {
          current.reject(e);
          if (bugs.has('lost-follow-up') && followUp) {
            followUp.resolve();
            followUp = null;
          }
        }
        // Only invalidations asked, and this fetch reached what they
        // announced: they are answered, no follow-up (CO-2). A failed
        // fetch answers nothing: the follow-up queued behind it runs.
        const covered =
          ok && !followUpNeeded && followUpAnnounced !== null && local !== null && !after(followUpAnnounced, local);
        if (followUp && covered) {
          followUp.resolve();
          followUp = null;
        }
        followUpNeeded = false;
        followUpAnnounced = null;
        if (!followUp || lifecycle === 'stopped') break;
        current = followUp;
        followUp = null;
      }
      if (followUp && lifecycle === 'stopped') {
        followUp.resolve();
        followUp = null;
      }
      fetching = false;
    })();
    return first.promise;
  }

  function handler(payload) {
    if (lifecycle === 'stopped' || lifecycle === 'idle' || deaf) return;
    const isObject = payload !== null && typeof payload === 'object' && !Array.isArray(payload);
    const blank = typeof payload?.topic === 'string' && payload.topic.trim() === '' && !bugs.has('accepts-blank-topic');
    const strict =
      isObject &&
      ((bugs.has('rejects-non-string-source-id') && 'sourceId' in payload && typeof payload.sourceId !== 'string') ||
        (bugs.has('rejects-unknown-fields') && Object.keys(payload).some((k) => !['topic', 'revision', 'epoch', 'sourceId', 'timestampMs'].includes(k))));
    if (!isObject || typeof payload.topic !== 'string' || blank || strict || !isCanonical(payload.revision) || epochOf(payload) === null) {
      if (!bugs.has('silent-garbage')) {
        const raw = bugs.has('raw-revision-in-context') && typeof payload?.revision === 'string';
        report({
          phase: 'protocol',
          error: protocolError('invalid invalidation event'),
          sourceEvent: payload,
          ...(raw ? { eventRevision: payload.revision } : {}),
        });
      }
      return;
    }
    if (payload.topic !== topic && !bugs.has('ignores-topic')) return;
    const announced = { epoch: epochOf(payload), revision: payload.revision };
    if (local !== null && !after(announced, local) && !bugs.has('refreshes-on-old-events')) return;
    if (shouldRefresh && !bugs.has('ignores-should-refresh')) {
      if (bugs.has('filter-throw-escapes') && !shouldRefresh(payload)) return;
      try {
        if (!shouldRefresh(payload)) return;
      } catch (error) {
        report({ phase: 'invalidation', error, sourceEvent: payload, eventRevision: payload.revision });
        return;
      }
    }
    requestRefresh(announced).catch(() => {
      if (bugs.has('deaf-after-failure')) deaf = true;
    });
  }

  return {
    start() {
      if (lifecycle === 'stopped' && bugs.has('start-after-stop-subscribes')) {
        subscriber.subscribe(handler).catch(() => {});
      }
      if (lifecycle === 'stopped') {
        const error = new Error('start after stop');
        error.phase = 'start';
        report({ phase: 'start', error });
        return Promise.reject(error);
      }
      if (starting) return starting;
      if (lifecycle === 'running') return Promise.resolve();
      if (failedStart && bugs.has('second-start-after-failure-resolves')) {
        lifecycle = 'running';
        return Promise.resolve();
      }
      lifecycle = 'starting';
      const gen = generation;
      starting = (async () => {
        if (bugs.has('fetches-before-subscribing')) await requestRefresh();
        let unsub;
        const subscribing = subscriber.subscribe(handler);
        try {
          // A stop landing while subscribe is pending rejects start at once.
          unsub = await untilStopped(subscribing);
        } catch (error) {
          report({ phase: 'subscribe', error });
          if (lifecycle !== 'stopped') lifecycle = 'idle';
          failedStart = true;
          starting = null;
          throw error;
        }
        if (unsub === STOPPED) {
          // Whatever subscription arrives later is released at once.
          subscribing.then(
            (late) => {
              if (!bugs.has('leak-on-stop-during-subscribe')) late();
            },
            () => {},
          );
          starting = null;
          const error = new Error('stopped while starting');
          error.phase = 'start';
          throw error;
        }
        if (lifecycle === 'stopped' || gen !== generation) {
          if (!bugs.has('leak-on-stop-during-subscribe')) unsub();
          const error = new Error('stopped while starting');
          error.phase = 'start';
          throw error;
        }
        unsubscribe = unsub;
        if (bugs.has('start-resolves-early')) {
          requestRefresh().catch(() => {});
          lifecycle = 'running';
          starting = null;
          return;
        }
        let initial;
        try {
          if (!bugs.has('fetches-before-subscribing')) initial = await untilStopped(requestRefresh());
        } catch (error) {
          if (!bugs.has('no-rollback')) {
            if (unsubscribe) unsubscribe();
            unsubscribe = null;
          }
          if (lifecycle !== 'stopped') {
            lifecycle = 'idle';
            generation++;
          }
          failedStart = true;
          starting = null;
          throw error;
        }
        if (lifecycle === 'stopped' || initial === STOPPED) {
          starting = null;
          const error = new Error('stopped while starting');
          error.phase = 'start';
          throw error;
        }
        lifecycle = 'running';
        starting = null;
      })();
      return starting;
    },
    stop() {
      if (lifecycle === 'stopped') return;
      lifecycle = 'stopped';
      generation++;
      stopped.resolve(STOPPED);
      aborter.abort();
      if (unsubscribe && !bugs.has('keeps-subscription-on-stop')) unsubscribe();
      unsubscribe = null;
    },
    refresh() {
      if (lifecycle === 'stopped' && !bugs.has('refresh-after-stop-fetches')) return Promise.resolve();
      if (bugs.has('refresh-resolves-early')) {
        requestRefresh().catch(() => {});
        return Promise.resolve();
      }
      return requestRefresh();
    },
    getLocalRevision() {
      return local?.revision ?? '0';
    },
    getLocalEpoch() {
      return local?.epoch ?? '0';
    },
    // The original API has no lifecycle accessor.
    ...(originalApi ? {} : { getLifecycle: () => lifecycle }),
  };
}
