// The proof of work of an ALTCHA challenge (https://altcha.org, its v1 format), off the page's
// thread: find the number n, 0..maxnumber, for which SHA-256(salt + n) in hex is the challenge.
// A module worker of our own, so the page's Content-Security-Policy (script-src 'self') allows it.

const Batch = 64; // digests in flight at once: crypto.subtle answers each asynchronously

function bytesOf(hex) {
  const bytes = new Uint8Array(hex.length / 2);
  for (let i = 0; i < bytes.length; i++) bytes[i] = parseInt(hex.substr(i * 2, 2), 16);
  return bytes;
}

function same(buffer, target) {
  const bytes = new Uint8Array(buffer);
  if (bytes.length !== target.length) return false;
  for (let i = 0; i < bytes.length; i++) if (bytes[i] !== target[i]) return false;
  return true;
}

async function solve({ algorithm, challenge, maxnumber, salt }) {
  const target = bytesOf(challenge);
  const encoder = new TextEncoder();
  const started = performance.now();
  for (let first = 0; first <= maxnumber; first += Batch) {
    const last = Math.min(maxnumber, first + Batch - 1);
    const digests = [];
    for (let n = first; n <= last; n++) digests.push(crypto.subtle.digest(algorithm, encoder.encode(salt + n)));
    const done = await Promise.all(digests);
    for (let i = 0; i < done.length; i++) {
      if (same(done[i], target)) return { number: first + i, took: Math.round(performance.now() - started) };
    }
  }
  return null;
}

self.onmessage = async (event) => {
  try {
    const solution = await solve(event.data);
    self.postMessage(solution ?? { error: 'no number solves this challenge' });
  } catch (error) {
    self.postMessage({ error: String(error) });
  }
};
