import assert from 'node:assert/strict';
import { test } from 'node:test';
import { clearSession, loadSession, saveSession, type KeyValueStore } from '../src/portal/storage.js';

const ORG = '019b1c2d-3e4f-7a8b-9c0d-1e2f3a4b5c6d';
const OTHER = '019b1c2d-3e4f-7a8b-9c0d-1e2f3a4b5c6e';
const TOKEN = `bcs_${'a'.repeat(40)}`;
const NOW = Date.parse('2026-12-01T10:00:00Z');

function memory(): KeyValueStore & { items: Map<string, string> } {
  const items = new Map<string, string>();
  return {
    items,
    getItem: (key) => items.get(key) ?? null,
    setItem: (key, value) => void items.set(key, value),
    removeItem: (key) => void items.delete(key),
  };
}

test('a session is kept per organization until it expires', () => {
  const store = memory();
  saveSession(store, ORG, { token: TOKEN, expireTime: '2026-12-01T11:00:00Z' });
  assert.deepEqual(loadSession(store, ORG, NOW), { token: TOKEN, expireTime: '2026-12-01T11:00:00Z' });
  assert.equal(loadSession(store, OTHER, NOW), null);
  // Expired: gone, and removed from the store.
  assert.equal(loadSession(store, ORG, Date.parse('2026-12-01T11:00:00Z')), null);
  assert.equal(store.items.size, 0);
});

test('a session of unknown expiry is kept until the API refuses it', () => {
  const store = memory();
  saveSession(store, ORG, { token: TOKEN, expireTime: '' });
  assert.deepEqual(loadSession(store, ORG, NOW), { token: TOKEN, expireTime: '' });
  clearSession(store, ORG);
  assert.equal(loadSession(store, ORG, NOW), null);
});

test('anything else in the store is dropped; no store, no session', () => {
  const store = memory();
  store.setItem(`billingos.portal.session.${ORG}`, '{not json');
  assert.equal(loadSession(store, ORG, NOW), null);
  store.setItem(`billingos.portal.session.${ORG}`, JSON.stringify({ token: 'sk_live_x' }));
  assert.equal(loadSession(store, ORG, NOW), null);
  assert.equal(store.items.size, 0);
  assert.equal(loadSession(null, ORG, NOW), null);
  saveSession(null, ORG, { token: TOKEN, expireTime: '' }); // nothing to do, no error
  const refusing: KeyValueStore = {
    getItem: () => {
      throw new Error('SecurityError');
    },
    setItem: () => {
      throw new Error('QuotaExceededError');
    },
    removeItem: () => {
      throw new Error('SecurityError');
    },
  };
  assert.equal(loadSession(refusing, ORG, NOW), null);
  saveSession(refusing, ORG, { token: TOKEN, expireTime: '' });
  clearSession(refusing, ORG);
});
