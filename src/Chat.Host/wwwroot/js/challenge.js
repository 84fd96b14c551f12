// Solves the server's bot challenge (CRT_ACCOUNT_RESP code 6) in the background and gives back
// what the retry carries: the base64 JSON payload an ALTCHA widget would send.

/** Resolves with the `altcha` payload for `challenge` ({algorithm, challenge, maxnumber, salt, signature}); rejects if it cannot be solved here. */
export function solveChallenge(challenge) {
  return new Promise((resolve, reject) => {
    if (typeof Worker !== 'function' || !globalThis.crypto?.subtle) {
      reject(new Error('this browser cannot run the check (it needs Web Workers and a secure https page)'));
      return;
    }
    const worker = new Worker(new URL('./altcha-worker.js', import.meta.url), { type: 'module', name: 'altcha' });
    worker.onmessage = (event) => {
      worker.terminate();
      const { number, took, error } = event.data ?? {};
      if (typeof number !== 'number') {
        reject(new Error(error ?? 'the check found no answer'));
        return;
      }
      const payload = {
        algorithm: challenge.algorithm,
        challenge: challenge.challenge,
        number,
        salt: challenge.salt,
        signature: challenge.signature,
        took,
      };
      resolve(btoa(JSON.stringify(payload)));
    };
    worker.onerror = (event) => {
      worker.terminate();
      reject(new Error(event.message || 'the check could not start'));
    };
    worker.postMessage({
      algorithm: challenge.algorithm,
      challenge: challenge.challenge,
      maxnumber: challenge.maxnumber,
      salt: challenge.salt,
    });
  });
}
