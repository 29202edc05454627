// A virtual clock for the engine under test: setTimeout, clearTimeout,
// setInterval, clearInterval, Date.now and performance.now are replaced
// before the engine module is loaded, so that its timers (debounce,
// throttle, retry back-off) run on the conformance kit's virtual time.
// Time moves only through `advanceTo`, firing due timers in order.

const realSetImmediate = globalThis.setImmediate;

/** Resolves once every microtask queued so far (and those they queue) ran. */
export function drain() {
  return new Promise((resolve) => realSetImmediate(() => realSetImmediate(resolve)));
}

export class VirtualClock {
  constructor() {
    this.now = 0; // ms since the case began
    this.epoch = Date.now(); // what Date.now() shows at virtual time 0
    this.timers = new Map(); // id -> { at, seq, fn, args, every }
    this.nextId = 1;
    this.seq = 0;
  }

  /** Installs the clock's timers in place of the global ones. */
  install() {
    const clock = this;
    const make = (every) => (fn, delay = 0, ...args) => {
      const id = clock.nextId++;
      const ms = Math.max(0, Number(delay) || 0);
      clock.timers.set(id, { at: clock.now + ms, seq: clock.seq++, fn, args, every: every ? Math.max(1, ms) : 0 });
      return new Timer(id);
    };
    const clear = (t) => {
      if (t != null) clock.timers.delete(typeof t === 'object' ? t.id : t);
    };
    globalThis.setTimeout = make(false);
    globalThis.setInterval = make(true);
    globalThis.clearTimeout = clear;
    globalThis.clearInterval = clear;
    const RealDate = Date;
    const epoch = this.epoch;
    globalThis.Date.now = () => epoch + clock.now;
    if (globalThis.performance) {
      try {
        globalThis.performance.now = () => clock.now;
      } catch {
        // a read-only performance.now stays real
      }
    }
    void RealDate;
  }

  /** The earliest armed timer, in ms, if any. */
  nextTimer() {
    let best = null;
    for (const t of this.timers.values()) {
      if (best === null || t.at < best) best = t.at;
    }
    return best;
  }

  /** Moves time to `target`, firing due timers in order (letting the
   * engine run after each). */
  async advanceTo(target) {
    for (;;) {
      let next = null;
      let nextId = null;
      for (const [id, t] of this.timers) {
        if (t.at <= target && (next === null || t.at < next.at || (t.at === next.at && t.seq < next.seq))) {
          next = t;
          nextId = id;
        }
      }
      if (next === null) break;
      this.now = Math.max(this.now, next.at);
      if (next.every) {
        next.at += next.every;
        next.seq = this.seq++;
      } else {
        this.timers.delete(nextId);
      }
      try {
        next.fn(...next.args);
      } catch (e) {
        process.stderr.write(`a timer callback threw: ${e && e.stack ? e.stack : e}\n`);
      }
      await drain();
    }
    this.now = Math.max(this.now, target);
  }
}

/** What setTimeout returns: an object with the Node timer methods. */
class Timer {
  constructor(id) {
    this.id = id;
  }
  ref() {
    return this;
  }
  unref() {
    return this;
  }
  hasRef() {
    return true;
  }
  [Symbol.toPrimitive]() {
    return this.id;
  }
}
