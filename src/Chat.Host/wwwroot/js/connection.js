// One WebSocket to /ws that comes back by itself: exponential backoff with jitter, a watchdog
// for sockets that went silent without closing, and no reconnect when the server says another
// window took the account over.

import { decode, encode } from './protocol.js';

/** Close status the server uses when a newer socket took the account ("replaced by another connection"). */
export const ClosedReplaced = 4001;
/** Close status of a banned visitor's socket (ours): reconnecting would only be refused again. */
export const ClosedBanned = 4003;

export const ConnectionState = Object.freeze({
  Idle: 'idle',
  Connecting: 'connecting',
  Open: 'open',
  Waiting: 'waiting', // closed, a retry is scheduled
  Stopped: 'stopped',
});

export class Connection {
  /**
   * @param {string} url ws(s)://host/ws
   * @param {{onOpen: () => void, onFrame: (frame: object) => void, onState: (state: string, info: object) => void}} handlers
   * @param {{baseDelayMs?: number, maxDelayMs?: number, silenceMs?: number}} [options]
   */
  constructor(url, handlers, options = {}) {
    this.url = url;
    this.handlers = handlers;
    this.baseDelayMs = options.baseDelayMs ?? 500;
    this.maxDelayMs = options.maxDelayMs ?? 15000;
    // The server pings every 3 s; a socket that says nothing for this long is dead.
    this.silenceMs = options.silenceMs ?? 25000;
    this.socket = null;
    this.attempt = 0;
    this.retryTimer = 0;
    this.watchdog = 0;
    this.lastFrameAt = 0;
    this.state = ConnectionState.Idle;
  }

  get isOpen() {
    return this.socket !== null && this.socket.readyState === WebSocket.OPEN;
  }

  /** Opens the socket unless it is already open or opening. */
  start() {
    if (this.socket !== null) return;
    this.clearRetry();
    this.open();
  }

  /** Skips the remaining backoff delay. */
  retryNow() {
    if (this.state === ConnectionState.Waiting) {
      this.clearRetry();
      if (this.socket === null) this.open();
    }
  }

  /** Called once the server accepted us on this socket: the next drop starts the backoff afresh. */
  resetBackoff() {
    this.attempt = 0;
  }

  /** Sends one frame; false when the socket is not open (the caller keeps what must survive). */
  send(frame) {
    if (!this.isOpen) return false;
    this.socket.send(encode(frame));
    return true;
  }

  /** Closes on purpose (a close frame: the server ends the chat at once) and stays closed. */
  stop() {
    this.clearRetry();
    this.stopWatchdog();
    const socket = this.socket;
    this.socket = null;
    if (socket !== null) {
      this.detach(socket);
      socket.close(1000, 'bye');
    }
    this.setState(ConnectionState.Stopped, {});
  }

  open() {
    const socket = new WebSocket(this.url);
    this.socket = socket;
    this.setState(ConnectionState.Connecting, { attempt: this.attempt });
    socket.onopen = () => {
      this.lastFrameAt = Date.now();
      this.startWatchdog();
      this.setState(ConnectionState.Open, {});
      this.handlers.onOpen();
    };
    socket.onmessage = (event) => {
      this.lastFrameAt = Date.now();
      if (typeof event.data !== 'string') return;
      let frame;
      try {
        frame = decode(event.data);
      } catch {
        return; // not a frame we can read; the server never sends one
      }
      this.handlers.onFrame(frame);
    };
    socket.onclose = (event) => {
      if (this.socket !== socket) return;
      this.lost({ code: event.code, reason: event.reason });
    };
    socket.onerror = () => {
      // onclose follows and does the work.
    };
  }

  lost(info) {
    this.stopWatchdog();
    this.socket = null;
    if (info.code === ClosedReplaced) {
      this.setState(ConnectionState.Stopped, { ...info, replaced: true });
      return;
    }
    if (info.code === ClosedBanned) {
      this.setState(ConnectionState.Stopped, { ...info, banned: true });
      return;
    }
    this.scheduleRetry(info);
  }

  scheduleRetry(info) {
    const ceiling = Math.min(this.maxDelayMs, this.baseDelayMs * 2 ** Math.min(this.attempt, 16));
    // "Equal jitter": half fixed, half random, so many clients do not come back in step.
    const delay = Math.round(ceiling / 2 + Math.random() * (ceiling / 2));
    this.attempt += 1;
    this.clearRetry();
    this.retryTimer = setTimeout(() => {
      this.retryTimer = 0;
      this.open();
    }, delay);
    this.setState(ConnectionState.Waiting, { ...info, retryAt: Date.now() + delay, attempt: this.attempt });
  }

  startWatchdog() {
    this.stopWatchdog();
    this.watchdog = setInterval(() => {
      if (this.socket !== null && Date.now() - this.lastFrameAt > this.silenceMs) {
        // A half-open socket: give it up without a close frame (which would end the chat on the
        // server, were it to arrive) and reconnect; the server replaces the old socket.
        const socket = this.socket;
        this.detach(socket);
        this.lost({ code: 0, reason: 'silent' });
      }
    }, 1000);
  }

  stopWatchdog() {
    if (this.watchdog) clearInterval(this.watchdog);
    this.watchdog = 0;
  }

  clearRetry() {
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.retryTimer = 0;
  }

  detach(socket) {
    socket.onopen = null;
    socket.onmessage = null;
    socket.onclose = null;
    socket.onerror = null;
  }

  setState(state, info) {
    this.state = state;
    this.handlers.onState(state, info);
  }
}
