// The chat's client-side rules: account, matching, sessions, messages and receipts. It keeps
// every sent-but-unacknowledged message and sends it again, with its original requestId, after
// a reconnect; it shows each pushed msgId once per session; it acknowledges every push.
// It knows nothing of the DOM: the UI listens to its events.

import { Cmd, Code, Signal, compareIds, newRequestId } from './protocol.js';
import { Connection, ConnectionState } from './connection.js';
import { solveChallenge } from './challenge.js';

const CredentialsKey = 'chat.account';
const StatsEveryMs = 3000;
const MatchRetryMs = 3000;
const TypingEveryMs = 1000;
const MaxSendAttempts = 5;
/** Challenges solved for one nickname before giving up (each refused answer comes with a new one). */
const MaxChallenges = 3;

/** A message as the UI shows it. */
export class Message {
  constructor(fields) {
    this.own = fields.own;
    this.content = fields.content;
    this.time = fields.time;
    this.msgId = fields.msgId ?? null;
    this.requestId = fields.requestId ?? null;
    /** own: 'queued' | 'sending' | 'sent' | 'read' | 'failed'; partner: 'received' */
    this.status = fields.status;
    this.problem = null;
    this.attempts = 0;
  }
}

export class Session {
  constructor(id, partnerId, partnerName, commonInterests = []) {
    this.id = id;
    this.partnerId = partnerId;
    this.partnerName = partnerName || 'Stranger';
    /** The interests both share, as the server folded them (MATCH_RESP / NewSession's commonInterests). */
    this.commonInterests = Array.isArray(commonInterests) ? commonInterests.filter((i) => typeof i === 'string') : [];
    this.ended = false;
    /** 'partner-left' | 'you-left' | 'lost' */
    this.endReason = null;
    this.partnerAway = false;
    /** @type {(Message | {notice: string, kind: string, time: number})[]} */
    this.items = [];
    this.seen = new Set();
    this.partnerReadUpTo = '0';
    this.viewedAckSent = '0';
    this.lastTypingSentAt = 0;
    this.unread = 0;
  }

  get lastPartnerMsgId() {
    for (let i = this.items.length - 1; i >= 0; i--) {
      const item = this.items[i];
      if (item instanceof Message && !item.own) return item.msgId;
    }
    return null;
  }
}

export class ChatClient extends EventTarget {
  /**
   * @param {{url: string, storage?: Storage, isVisible?: () => boolean}} options
   */
  constructor(options) {
    super();
    this.storage = options.storage ?? window.sessionStorage;
    this.isVisible = options.isVisible ?? (() => document.visibilityState === 'visible');
    this.account = this.loadCredentials();
    this.pendingNickName = null;
    /** Solving the server's bot challenge (CRT_ACCOUNT_RESP code 6) before the account can be made. */
    this.checking = false;
    this.challenges = 0;
    /** The solved challenge the next CRT_ACCOUNT_REQ carries. */
    this.altcha = null;
    this.ready = false;
    this.wantMatch = false;
    /** Who MATCH_REQ asks for: interests (folded) and a language (null: any). */
    this.wish = { interests: [], lang: null };
    /** When the current wait for a partner began (ms), for the fallback's countdown; 0: not waiting. */
    this.waitingSince = 0;
    /** Why the server will not start another chat now (MATCH_RESP code 1), until a chat ends. */
    this.matchRefused = null;
    this.matchTimer = 0;
    this.reconnectTimer = 0;
    this.statsTimer = 0;
    /** @type {Map<string, Session>} */
    this.sessions = new Map();
    this.removed = new Set();
    this.endQueue = new Set();
    /** requestId -> {message, sessionId}, in the order they were written */
    this.unacked = new Map();
    this.activeId = null;
    this.connection = new Connection(options.url, {
      onOpen: () => this.onOpen(),
      onFrame: (frame) => this.onFrame(frame),
      onState: (state, info) => this.onConnectionState(state, info),
    }, options.connection);
  }

  // ---- what the UI asks ----

  get hasStoredAccount() {
    return this.account !== null;
  }

  /** Starts with a stored account (a reload of the tab): reconnect with its token. */
  resume() {
    this.connection.start();
  }

  /** Creates the temporary account, then looks for a partner. */
  start(nickName, wish = null) {
    if (wish) this.wish = wish;
    this.pendingNickName = nickName.trim();
    this.challenges = 0;
    this.altcha = null;
    this.wantMatch = true;
    if (this.connection.isOpen) this.onOpen();
    else this.connection.start();
  }

  /** The user asked: skip the backoff, or take the account back from another window. */
  reconnectNow() {
    if (this.connection.state === ConnectionState.Stopped && this.account !== null) this.connection.start();
    else this.connection.retryNow();
  }

  /** The browser says the network is back: try at once instead of waiting out the backoff. */
  networkBack() {
    this.connection.retryNow();
  }

  setActive(sessionId) {
    this.activeId = sessionId;
    const session = this.sessions.get(sessionId);
    if (session) {
      session.unread = 0;
      this.ackViewed(session);
    }
  }

  /** The page became visible or hidden: read receipts only go out for what can be seen. */
  visibilityChanged() {
    const session = this.sessions.get(this.activeId);
    if (session) {
      if (this.isVisible()) session.unread = 0;
      this.ackViewed(session);
    }
  }

  /** Queues a message; it goes out now or after the next reconnect. Returns it, or null. */
  send(sessionId, text) {
    const session = this.sessions.get(sessionId);
    if (!session || session.ended || text.trim().length === 0) return null;
    const message = new Message({
      own: true,
      content: text,
      time: Date.now(),
      requestId: newRequestId(),
      status: 'queued',
    });
    session.items.push(message);
    this.unacked.set(message.requestId, { message, sessionId });
    this.emit('item', { session, item: message });
    this.transmit(sessionId, message);
    return message;
  }

  typing(sessionId) {
    const session = this.sessions.get(sessionId);
    if (!session || session.ended || !this.ready) return;
    const now = Date.now();
    if (now - session.lastTypingSentAt < TypingEveryMs) return;
    session.lastTypingSentAt = now;
    this.connection.send({ cmd: Cmd.TypingReq, sessionId });
  }

  /** Leaves one conversation on purpose; the partner is told. */
  end(sessionId) {
    const session = this.sessions.get(sessionId);
    if (!session || session.ended) return;
    if (!(this.ready && this.connection.send({ cmd: Cmd.EndSessionReq, sessionId }))) {
      this.endQueue.add(sessionId);
    }
    this.markEnded(session, 'you-left', 'You left the chat.');
  }

  /** Reports the partner of a conversation (spam, harassment, sexual, minor, other) and leaves it; the partner only sees that you left. */
  report(sessionId, reason, note) {
    const session = this.sessions.get(sessionId);
    if (!session || !this.ready) return false;
    const sent = this.connection.send({ cmd: Cmd.ReportReq, sessionId, reason, note: note || undefined });
    if (sent && !session.ended) this.markEnded(session, 'you-left', 'You reported this stranger and left the chat.');
    return sent;
  }

  /** Ends this conversation (if it is still on), closes its tab and looks for someone new. */
  newStranger(sessionId) {
    if (sessionId) {
      this.end(sessionId);
      this.close(sessionId);
    }
    this.wantMatch = true;
    this.emit('waiting', { waiting: true });
    this.requestMatch();
  }

  /** Closes the tab of an ended conversation. */
  close(sessionId) {
    const session = this.sessions.get(sessionId);
    if (!session) return;
    if (!session.ended) this.end(sessionId);
    this.sessions.delete(sessionId);
    this.removed.add(sessionId);
    if (this.activeId === sessionId) this.activeId = null;
    this.emit('session-removed', { session });
  }

  // ---- the socket ----

  onConnectionState(state, info) {
    if (state !== ConnectionState.Open) {
      this.ready = false;
      this.stopTimers();
    }
    this.emit('connection', { state, ...info });
  }

  onOpen() {
    // confirmReceipt: this client answers every push, so the server counts a message as
    // delivered only when the page confirms it, never on a socket write alone.
    if (this.account) {
      this.connection.send({ cmd: Cmd.ReconnectReq, accountId: this.account.accountId, token: this.account.token, confirmReceipt: true });
    } else if (this.pendingNickName !== null && !(this.checking && this.altcha === null)) {
      // While the check runs, its answer is sent when it is ready (on this socket or the next).
      this.sendCreateAccount();
    }
  }

  sendCreateAccount() {
    const frame = { cmd: Cmd.CreateAccountReq, nickName: this.pendingNickName, confirmReceipt: true };
    if (this.altcha !== null) frame.altcha = this.altcha;
    this.connection.send(frame);
  }

  onFrame(frame) {
    switch (frame.cmd) {
      case Cmd.CreateAccountResp: return this.onCreateAccount(frame);
      case Cmd.ReconnectResp: return this.onReconnect(frame);
      case Cmd.MatchResp: return this.onMatch(frame);
      case Cmd.DialogueResp: return this.onDialogueResp(frame);
      case Cmd.PushDialogueReq: return this.onPushDialogue(frame);
      case Cmd.PushSignalReq: return this.onSignal(frame);
      case Cmd.PushViewedAckReq: return this.onViewedAck(frame);
      case Cmd.StatsResp: return this.emit('stats', { online: frame.online, waiting: frame.waiting });
      case Cmd.PingReq:
        this.connection.send({ cmd: Cmd.PingResp, accountId: this.account?.accountId ?? '0' });
        return undefined;
      case Cmd.ReportResp:
        return this.emit('reported', { code: frame.code, msg: frame.msg, sessionId: frame.sessionId });
      case Cmd.ErrorResp:
        if (frame.code === Code.Banned) return this.emit('banned', { msg: frame.msg, until: frame.until, ref: frame.ref });
        return undefined;
      case Cmd.EndSessionResp:
      case Cmd.ViewedAckResp:
      case Cmd.PingResp:
      default:
        return undefined;
    }
  }

  onCreateAccount(frame) {
    this.altcha = null;
    if (frame.code === Code.ChallengeRequired && frame.challenge && this.pendingNickName !== null && this.challenges < MaxChallenges) {
      this.solve(frame.challenge);
      return;
    }
    this.setChecking(false);
    if (frame.code === Code.Banned) {
      this.emit('banned', { msg: frame.msg, until: frame.until, ref: frame.ref });
    }
    if (frame.code !== Code.Success) {
      this.emit('account-error', { code: frame.code, msg: frame.msg, retryAfter: frame.retryAfter });
      return;
    }
    this.pendingNickName = null;
    this.account = { accountId: frame.accountId, token: frame.token, nickName: frame.nickName };
    this.saveCredentials();
    this.becomeReady();
    this.emit('account', { account: this.account, restored: false });
    if (this.wantMatch) this.requestMatch();
  }

  /** Works out the server's challenge in a worker, then asks for the account again with the answer. */
  solve(challenge) {
    this.challenges += 1;
    this.setChecking(true);
    const nickName = this.pendingNickName;
    solveChallenge(challenge).then((altcha) => {
      if (this.pendingNickName !== nickName || this.account !== null) return; // given up meanwhile
      this.altcha = altcha;
      if (this.connection.isOpen) this.sendCreateAccount();
    }, (error) => {
      if (this.pendingNickName !== nickName) return;
      this.setChecking(false);
      this.emit('account-error', { code: Code.ChallengeRequired, msg: `The browser check could not finish: ${error.message}.` });
    });
  }

  setChecking(checking) {
    if (this.checking === checking) return;
    this.checking = checking;
    this.emit('checking', { checking });
  }

  onReconnect(frame) {
    if (frame.code === Code.Banned) {
      this.connection.stop();
      this.emit('banned', { msg: frame.msg, until: frame.until, ref: frame.ref });
      return;
    }
    if (frame.code === Code.NoDataFound) {
      // The account is gone (or the token is wrong): start over.
      this.forgetCredentials();
      this.connection.stop();
      for (const session of this.sessions.values()) {
        if (!session.ended) this.markEnded(session, 'lost', 'This chat ended while you were disconnected.');
      }
      this.emit('account-lost', {});
      return;
    }
    if (frame.code !== Code.Success) {
      // Refused for now: ask again on this socket a little later. Too many reconnects of this
      // account (code 5) says when, in retryAfter seconds; store trouble and the like get 2 s.
      const wait = frame.code === Code.RateLimited && frame.retryAfter > 0
        ? frame.retryAfter * 1000 + Math.random() * 1000
        : 2000;
      clearTimeout(this.reconnectTimer);
      this.reconnectTimer = setTimeout(() => {
        if (!this.ready && this.connection.isOpen) this.onOpen();
      }, wait);
      return;
    }
    if (frame.nickName) this.account.nickName = frame.nickName;
    this.becomeReady();
    this.emit('account', { account: this.account, restored: true });

    const alive = new Set();
    for (const s of frame.sessions ?? []) {
      const id = s.sessionId;
      if (this.endQueue.has(id) || this.removed.has(id)) {
        this.endQueue.delete(id);
        this.connection.send({ cmd: Cmd.EndSessionReq, sessionId: id });
        continue;
      }
      alive.add(id);
      const known = this.sessions.get(id);
      if (known) {
        if (s.partnerName) known.partnerName = s.partnerName;
        const away = s.partnerOnline === false;
        if (known.partnerAway !== away) {
          known.partnerAway = away;
          this.notice(known, away ? `${known.partnerName}'s connection dropped. They may be back soon.` : `${known.partnerName} is back.`, away ? 'away' : 'back');
        }
        // What the partner read while this page was away: its receipts were not replayed.
        if (s.partnerReadUpTo) this.markReadUpTo(known, s.partnerReadUpTo);
        this.emit('session-updated', { session: known });
      } else {
        const session = this.addSession(id, s.partnerId, s.partnerName, this.activeId === null);
        session.partnerAway = s.partnerOnline === false;
        if (s.partnerReadUpTo) this.markReadUpTo(session, s.partnerReadUpTo);
      }
    }
    this.endQueue.clear();
    if (Array.isArray(frame.sessions)) {
      for (const session of this.sessions.values()) {
        if (!session.ended && !alive.has(session.id)) {
          this.markEnded(session, 'lost', 'This chat ended while you were disconnected.');
        }
      }
    }
    // Everything not acknowledged goes again, in order, with its original requestId: the server
    // stores it once and answers with the msgId it already gave.
    for (const { message, sessionId } of this.unacked.values()) this.transmit(sessionId, message);
    for (const session of this.sessions.values()) session.viewedAckSent = '0';
    const active = this.sessions.get(this.activeId);
    if (active) this.ackViewed(active);
    // Nothing to come back to (say, the tab was reloaded and the chat ended): find someone new.
    if (this.sessions.size === 0) this.wantMatch = true;
    if (this.wantMatch) {
      this.emit('waiting', { waiting: true });
      this.requestMatch();
    }
  }

  becomeReady() {
    this.ready = true;
    this.connection.resetBackoff();
    this.emit('ready', {});
  }

  requestMatch(altcha = null) {
    clearTimeout(this.matchTimer);
    this.matchTimer = 0;
    if (!this.wantMatch || !this.ready) return;
    this.matchRefused = null;
    const frame = { cmd: Cmd.MatchReq, accountId: this.account.accountId };
    if (this.wish.interests.length > 0) frame.interests = this.wish.interests;
    if (this.wish.lang) frame.lang = this.wish.lang;
    if (altcha !== null) frame.altcha = altcha;
    if (this.waitingSince === 0) this.waitingSince = Date.now();
    this.connection.send(frame);
    this.startStats();
  }

  onMatch(frame) {
    if (frame.code === Code.Success) {
      this.matched(frame.sessionId, frame.partnerId, frame.partnerName, frame.commonInterests);
    } else if (frame.code === Code.ChallengeRequired && frame.challenge) {
      // Many new partners in a minute: the next match needs the browser check solved.
      if (this.checking) return;
      this.setChecking(true);
      solveChallenge(frame.challenge).then((altcha) => {
        this.setChecking(false);
        this.requestMatch(altcha);
      }, (error) => {
        this.setChecking(false);
        this.emit('account-error', { code: Code.ChallengeRequired, msg: `The browser check could not finish: ${error.message}.` });
      });
    } else if (frame.code === Code.ParamErr) {
      // Not now, and asking again changes nothing (in as many chats as one may be): say why and
      // stop; ending a chat makes room, and "New stranger" asks again.
      this.wantMatch = false;
      this.waitingSince = 0;
      this.stopTimers();
      this.matchRefused = frame.msg || 'You cannot start another chat right now.';
      this.emit('waiting', { waiting: false });
    } else if (frame.code !== Code.NoDataFound) {
      // Refused or failed: ask again a little later (when a limit says, then). Code 4 means "you are in the waiting pool".
      const wait = frame.code === Code.RateLimited && frame.retryAfter > 0 ? frame.retryAfter * 1000 : MatchRetryMs;
      clearTimeout(this.matchTimer);
      this.matchTimer = setTimeout(() => this.requestMatch(), wait);
    }
  }

  matched(sessionId, partnerId, partnerName, commonInterests = []) {
    const wasWaiting = this.wantMatch;
    this.wantMatch = false;
    this.waitingSince = 0;
    this.stopTimers();
    if (this.sessions.has(sessionId)) return;
    this.addSession(sessionId, partnerId, partnerName, wasWaiting || this.activeId === null, commonInterests);
    this.emit('waiting', { waiting: false });
  }

  addSession(id, partnerId, partnerName, activate, commonInterests = []) {
    const session = new Session(id, partnerId, partnerName, commonInterests);
    this.sessions.set(id, session);
    if (session.commonInterests.length > 0) this.notice(session, `You both like: ${session.commonInterests.join(', ')}`, 'common', false);
    this.notice(session, `You are now chatting with ${session.partnerName}. Say hi!`, 'start', false);
    this.emit('session-added', { session, activate });
    return session;
  }

  transmit(sessionId, message) {
    if (!this.ready) {
      message.status = 'queued';
      this.emit('item-updated', { item: message });
      return;
    }
    message.attempts += 1;
    message.status = 'sending';
    this.connection.send({
      cmd: Cmd.DialogueReq,
      requestId: message.requestId,
      senderId: this.account.accountId,
      sessionId,
      content: message.content,
    });
    this.emit('item-updated', { item: message });
  }

  onDialogueResp(frame) {
    const entry = this.unacked.get(frame.requestId);
    if (!entry) return;
    const { message, sessionId } = entry;
    const session = this.sessions.get(sessionId);
    if (frame.code === Code.Success) {
      this.unacked.delete(frame.requestId);
      message.msgId = frame.msgId;
      message.status = session && compareIds(session.partnerReadUpTo, message.msgId) >= 0 ? 'read' : 'sent';
    } else if (frame.code === Code.RateLimited || (frame.code === Code.InternalErr && message.attempts < MaxSendAttempts)) {
      // Too fast (say, a long queue resent after a reconnect) or a passing server fault: the
      // request had no effect, so the same requestId goes again a little later.
      if (frame.code === Code.RateLimited) message.attempts = Math.max(0, message.attempts - 1);
      setTimeout(() => {
        if (this.unacked.has(message.requestId) && this.ready) this.transmit(sessionId, message);
      }, 700 + Math.random() * 600 + 500 * message.attempts);
      return;
    } else {
      this.unacked.delete(frame.requestId);
      message.status = 'failed';
      // Code 1 with a msg: the server's filter refused the message (or said why it could not take it); the page shows why.
      message.problem = frame.code === Code.NoDataFound ? 'Not delivered: the chat has ended.'
        : frame.code === Code.ParamErr && typeof frame.msg === 'string' && frame.msg ? frame.msg.slice(0, 300)
        : 'Not delivered.';
    }
    this.emit('item-updated', { item: message });
  }

  onPushDialogue(frame) {
    // Acknowledge every push, shown or not: the server may then stop re-sending it. The
    // sessionId tells the server which session's delivery mark to move.
    this.connection.send({ cmd: Cmd.PushDialogueResp, code: Code.Success, msgId: frame.msgId, sessionId: frame.sessionId });
    const id = frame.sessionId;
    if (this.removed.has(id) || frame.senderId === this.account?.accountId) return;
    let session = this.sessions.get(id);
    if (!session) session = this.addSession(id, frame.senderId, null, this.activeId === null);
    if (session.seen.has(frame.msgId)) return;
    session.seen.add(frame.msgId);
    const message = new Message({
      own: false,
      content: String(frame.content ?? ''),
      time: typeof frame.sentAt === 'number' ? frame.sentAt : Date.now(),
      msgId: frame.msgId,
      status: 'received',
    });
    session.items.push(message);
    const seenNow = this.activeId === id && this.isVisible();
    if (!seenNow) session.unread += 1;
    this.emit('item', { session, item: message, incoming: true });
    this.emit('typing', { session, typing: false });
    this.ackViewed(session);
  }

  /** Tells the partner how far we have read, for the conversation on screen. */
  ackViewed(session) {
    if (!this.ready || session.id !== this.activeId || !this.isVisible()) return;
    const last = session.lastPartnerMsgId;
    if (last === null || compareIds(last, session.viewedAckSent) <= 0) return;
    if (this.connection.send({ cmd: Cmd.ViewedAckReq, sessionId: session.id, accountId: this.account.accountId, msgId: last })) {
      session.viewedAckSent = last;
    }
  }

  onViewedAck(frame) {
    const session = this.sessions.get(frame.sessionId);
    if (!session || frame.accountId === this.account?.accountId) return;
    this.markReadUpTo(session, frame.msgId);
  }

  /** The partner has read our messages up to msgId (a receipt, or RECONNECT_RESP's partnerReadUpTo): ✓✓ on each. */
  markReadUpTo(session, msgId) {
    if (compareIds(msgId, session.partnerReadUpTo) <= 0) return;
    session.partnerReadUpTo = msgId;
    for (const item of session.items) {
      if (item instanceof Message && item.own && item.msgId !== null && item.status === 'sent'
        && compareIds(item.msgId, msgId) <= 0) {
        item.status = 'read';
        this.emit('item-updated', { item });
      }
    }
  }

  onSignal(frame) {
    const data = frame.data ?? {};
    const session = this.sessions.get(frame.sessionId);
    switch (frame.signalType) {
      case Signal.NewSession:
        if (!this.removed.has(frame.sessionId)) this.matched(frame.sessionId, data.accountId, data.nickName, data.commonInterests);
        break;
      case Signal.PartnerExit:
        if (session && !session.ended) this.markEnded(session, 'partner-left', `${session.partnerName} left the chat.`);
        break;
      case Signal.PartnerAway:
        if (session && !session.ended && !session.partnerAway) {
          session.partnerAway = true;
          this.notice(session, `${session.partnerName}'s connection dropped. They may be back soon.`, 'away');
          this.emit('session-updated', { session });
        }
        break;
      case Signal.PartnerBack:
        if (session && !session.ended && session.partnerAway) {
          session.partnerAway = false;
          this.notice(session, `${session.partnerName} is back.`, 'back');
          this.emit('session-updated', { session });
        }
        break;
      case Signal.Typing:
        if (session && !session.ended) this.emit('typing', { session, typing: true });
        break;
      default:
        break;
    }
  }

  markEnded(session, reason, text) {
    session.ended = true;
    session.endReason = reason;
    this.matchRefused = null; // one chat fewer: there may be room for another now
    for (const [requestId, entry] of this.unacked) {
      if (entry.sessionId !== session.id) continue;
      this.unacked.delete(requestId);
      entry.message.status = 'failed';
      entry.message.problem = 'Not delivered: the chat has ended.';
      this.emit('item-updated', { item: entry.message });
    }
    this.emit('typing', { session, typing: false });
    this.notice(session, text, reason === 'partner-left' ? 'left' : 'ended');
    this.emit('session-updated', { session });
  }

  notice(session, text, kind, announce = true) {
    const item = { notice: text, kind, time: Date.now() };
    session.items.push(item);
    this.emit('item', { session, item, incoming: announce });
  }

  startStats() {
    if (this.statsTimer) return;
    const poll = () => {
      if (this.ready && this.wantMatch) this.connection.send({ cmd: Cmd.StatsReq });
      else this.stopStats();
    };
    poll();
    this.statsTimer = setInterval(poll, StatsEveryMs);
  }

  stopStats() {
    if (this.statsTimer) clearInterval(this.statsTimer);
    this.statsTimer = 0;
  }

  stopTimers() {
    this.stopStats();
    clearTimeout(this.matchTimer);
    this.matchTimer = 0;
  }

  // ---- credentials live in sessionStorage: one tab, one account, gone when the tab closes ----

  loadCredentials() {
    try {
      const raw = this.storage.getItem(CredentialsKey);
      if (!raw) return null;
      const value = JSON.parse(raw);
      return value && typeof value.accountId === 'string' && typeof value.token === 'string' ? value : null;
    } catch {
      return null;
    }
  }

  saveCredentials() {
    try {
      this.storage.setItem(CredentialsKey, JSON.stringify(this.account));
    } catch {
      // Storage refused (private mode quota): reconnect then only works while the page lives.
    }
  }

  forgetCredentials() {
    this.account = null;
    try {
      this.storage.removeItem(CredentialsKey);
    } catch {
      // nothing to do
    }
  }

  emit(type, detail) {
    this.dispatchEvent(new CustomEvent(type, { detail }));
  }
}
