// The driver's virtual clock: timers fire in order, only when time is moved.
import test from 'node:test';
import assert from 'node:assert/strict';

import { VirtualClock, drain } from '../clock.mjs';

test('timers fire in deadline order, only up to the time moved to', async () => {
  const saved = { setTimeout, clearTimeout, setInterval, clearInterval, now: Date.now };
  const clock = new VirtualClock();
  clock.install();
  try {
    const fired = [];
    setTimeout(() => fired.push(['b', clock.now]), 20);
    setTimeout(() => fired.push(['a', clock.now]), 10);
    const cancelled = setTimeout(() => fired.push(['never', clock.now]), 15);
    clearTimeout(cancelled);
    assert.equal(clock.nextTimer(), 10);
    await clock.advanceTo(15);
    assert.deepEqual(fired, [['a', 10]]);
    assert.equal(clock.now, 15);
    assert.equal(Date.now() - clock.epoch, 15);
    await clock.advanceTo(100);
    assert.deepEqual(fired, [['a', 10], ['b', 20]]);
    assert.equal(clock.nextTimer(), null);
  } finally {
    Object.assign(globalThis, {
      setTimeout: saved.setTimeout,
      clearTimeout: saved.clearTimeout,
      setInterval: saved.setInterval,
      clearInterval: saved.clearInterval,
    });
    Date.now = saved.now;
  }
});

test('a timer set by a timer at the same moment fires in the same advance', async () => {
  const saved = { setTimeout, now: Date.now };
  const clock = new VirtualClock();
  clock.install();
  try {
    const fired = [];
    setTimeout(() => {
      fired.push('first');
      setTimeout(() => fired.push('second'), 0);
    }, 5);
    await clock.advanceTo(5);
    await drain();
    assert.deepEqual(fired, ['first', 'second']);
  } finally {
    globalThis.setTimeout = saved.setTimeout;
    Date.now = saved.now;
  }
});
