// The page: three views (nickname, waiting, chat), tabs per conversation, the connection banner.
// Every text from the network goes into the DOM through textContent, never as HTML.

import { nickNameProblem } from './protocol.js';
import { ConnectionState } from './connection.js';
import { Message } from './chat-client.js';
import { FallbackSeconds, WishPicker } from './interests.js';

const TypingShownMs = 3000;
const AnnouncerKeep = 5;

const timeFormat = new Intl.DateTimeFormat(undefined, { hour: '2-digit', minute: '2-digit' });

const statusText = {
  queued: { mark: '…', label: 'Waiting for the connection' },
  sending: { mark: '…', label: 'Sending' },
  sent: { mark: '✓', label: 'Delivered to the server' },
  read: { mark: '✓✓', label: 'Read' },
  failed: { mark: '!', label: 'Not delivered' },
};

function $(id) {
  return document.getElementById(id);
}

function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

export class ChatView {
  /** @param {import('./chat-client.js').ChatClient} client */
  constructor(client) {
    this.client = client;
    this.logs = new Map(); // sessionId -> tab panel (the scrolling box)
    this.lists = new Map(); // sessionId -> the <ol> of messages and notices inside it
    this.tabs = new Map(); // sessionId -> <button>
    this.itemNodes = new WeakMap(); // Message -> <li>
    this.typingTimers = new Map(); // sessionId -> timeout
    this.countdown = 0;
    this.restoring = false;

    this.body = document.body;
    this.baseTitle = document.title;
    this.nickForm = $('nick-form');
    this.nickInput = $('nick');
    this.nickError = $('nick-error');
    this.nickSubmit = $('nick-submit');
    this.who = $('who');
    this.whoName = $('who-name');
    this.banner = $('conn-banner');
    this.bannerText = $('conn-text');
    this.retryButton = $('conn-retry');
    this.waitingTitle = $('waiting-title');
    this.wishNote = $('wish-note');
    this.wishTimer = 0;
    this.stats = $('stats');
    this.checkNote = $('check-note');
    this.tabList = $('tabs');
    this.partnerTitle = $('partner-title');
    this.partnerDot = $('partner-dot');
    this.newStrangerButton = $('new-stranger');
    this.endButton = $('end-chat');
    this.reportButton = $('report-chat');
    this.reportDialog = $('report-dialog');
    this.reportForm = $('report-form');
    this.reportError = $('report-error');
    this.matching = $('matching');
    this.logsBox = $('logs');
    this.typing = $('typing');
    this.composer = $('composer');
    this.input = $('message');
    this.sendButton = $('send');
    this.announcer = $('announcer');
  }

  mount() {
    this.picker = new WishPicker({
      input: $('interest-input'),
      chips: $('interest-chips'),
      error: $('interest-error'),
      lang: $('lang'),
      storage: this.client.storage,
      announce: (text) => this.announce(text),
    });
    this.client.wish = this.picker.wish;
    this.nickForm.addEventListener('submit', (e) => this.onNickSubmit(e));
    this.nickInput.addEventListener('input', () => this.showNickError(null));
    this.composer.addEventListener('submit', (e) => {
      e.preventDefault();
      this.sendCurrent();
    });
    this.input.addEventListener('keydown', (e) => {
      if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) {
        e.preventDefault();
        this.sendCurrent();
      }
    });
    this.input.addEventListener('input', () => {
      if (this.client.activeId && this.input.value.trim().length > 0) this.client.typing(this.client.activeId);
    });
    this.newStrangerButton.addEventListener('click', () => {
      this.client.newStranger(this.client.activeId);
      this.render();
    });
    this.endButton.addEventListener('click', () => {
      if (this.client.activeId) this.client.end(this.client.activeId);
      this.render();
      this.newStrangerButton.focus();
    });
    this.reportButton.addEventListener('click', () => this.openReport());
    $('report-cancel').addEventListener('click', () => this.reportDialog.close());
    this.reportForm.addEventListener('submit', (e) => this.onReportSubmit(e));
    this.retryButton.addEventListener('click', () => this.client.reconnectNow());
    this.tabList.addEventListener('keydown', (e) => this.onTabKey(e));
    document.addEventListener('visibilitychange', () => {
      this.client.visibilityChanged();
      this.renderTabs();
    });

    const c = this.client;
    c.addEventListener('connection', (e) => this.onConnection(e.detail));
    c.addEventListener('ready', () => this.onConnection({ state: ConnectionState.Open }));
    c.addEventListener('account', (e) => this.onAccount(e.detail));
    c.addEventListener('account-error', (e) => this.onAccountError(e.detail));
    c.addEventListener('account-lost', () => this.onAccountLost());
    c.addEventListener('checking', () => this.render());
    c.addEventListener('stats', (e) => this.onStats(e.detail));
    c.addEventListener('waiting', () => this.render());
    c.addEventListener('session-added', (e) => this.onSessionAdded(e.detail));
    c.addEventListener('session-updated', () => this.render());
    c.addEventListener('session-removed', (e) => this.onSessionRemoved(e.detail));
    c.addEventListener('item', (e) => this.onItem(e.detail));
    c.addEventListener('item-updated', (e) => this.onItemUpdated(e.detail));
    c.addEventListener('typing', (e) => this.onTyping(e.detail));
    c.addEventListener('banned', (e) => this.onBanned(e.detail));
    c.addEventListener('reported', (e) => this.onReported(e.detail));

    if (c.hasStoredAccount) {
      this.restoring = true;
      this.showAccount(c.account);
      c.resume();
    }
    this.render();
    if (this.body.dataset.view === 'start') this.nickInput.focus();
  }

  // ---- reports and bans ----

  openReport() {
    this.reportTarget = this.client.activeId;
    if (!this.reportTarget) return;
    this.reportForm.reset();
    this.reportError.hidden = true;
    this.reportDialog.showModal();
  }

  onReportSubmit(e) {
    e.preventDefault();
    const data = new FormData(this.reportForm);
    const reason = data.get('reason');
    if (!reason) {
      this.reportError.hidden = false;
      return;
    }
    this.client.report(this.reportTarget, String(reason), String(data.get('note') ?? '').trim());
    this.reportDialog.close();
    this.render();
    this.newStrangerButton.focus();
  }

  onReported({ code, msg }) {
    this.announce(code === 0 ? 'Thank you: your report was sent.' : `The report was not sent${msg ? `: ${msg}` : ''}.`);
  }

  /** A ban (code 7): the reason, until when and the reference, and no more reconnecting. */
  onBanned({ msg, until, ref }) {
    const end = until ? new Date(until).toLocaleString() : '';
    const text = msg || `You are banned${end ? ` until ${end}` : ''}${ref ? ` (reference ${ref})` : ''}.`;
    this.bannedText = text;
    this.banner.hidden = false;
    this.bannerText.textContent = text;
    this.retryButton.hidden = true;
    this.body.dataset.banned = 'true';
    this.announce(text);
  }

  // ---- nickname ----

  onNickSubmit(event) {
    event.preventDefault();
    const problem = nickNameProblem(this.nickInput.value);
    if (problem) {
      this.showNickError(problem);
      this.nickInput.focus();
      return;
    }
    this.showNickError(null);
    this.picker.addPending();
    this.nickSubmit.disabled = true;
    this.client.start(this.nickInput.value, this.picker.wish);
    this.render();
  }

  showNickError(text) {
    this.nickError.hidden = !text;
    this.nickError.textContent = text ?? '';
    if (text) this.nickInput.setAttribute('aria-invalid', 'true');
    else this.nickInput.removeAttribute('aria-invalid');
  }

  onAccountError({ code, msg, retryAfter }) {
    this.nickSubmit.disabled = false;
    this.client.wantMatch = false;
    this.client.pendingNickName = null;
    let text = msg || 'The server did not accept that nickname. Please try another one.';
    if (code === 5) {
      text = retryAfter > 0
        ? `Too many new chats were started from your network just now. Please try again in ${retryAfter} s.`
        : 'Too many tries at once. Please wait a moment and try again.';
    }
    this.showNickError(text);
    this.render();
    this.nickInput.focus();
  }

  onAccount({ account, restored }) {
    if (restored) this.body.dataset.reconnects = String(Number(this.body.dataset.reconnects ?? 0) + 1);
    this.restoring = false;
    this.nickSubmit.disabled = false;
    this.showAccount(account);
    this.render();
  }

  showAccount(account) {
    this.who.hidden = false;
    this.whoName.textContent = account.nickName ?? '';
    this.who.title = `You are ${account.nickName ?? ''}`;
    this.body.dataset.accountId = account.accountId;
  }

  onAccountLost() {
    this.restoring = false;
    this.who.hidden = true;
    delete this.body.dataset.accountId;
    this.showNickError('Your previous chat could not be restored. Pick a nickname to start again.');
    this.render();
  }

  // ---- waiting ----

  onStats({ online, waiting }) {
    if (typeof online !== 'number' || typeof waiting !== 'number') return;
    const people = online === 1 ? '1 person' : `${online} people`;
    this.stats.textContent = `${people} online, ${waiting} waiting for a partner.`;
  }

  // ---- sessions and tabs ----

  onSessionAdded({ session, activate }) {
    // Tab panel > log > list: each role on its own element, so the <ol> stays a list.
    const log = el('div', 'log');
    log.id = `log-${session.id}`;
    log.setAttribute('role', 'tabpanel');
    log.tabIndex = 0;
    log.dataset.sessionId = session.id;
    log.hidden = true;
    const conversation = el('div');
    conversation.setAttribute('role', 'log');
    conversation.setAttribute('aria-label', `Conversation with ${session.partnerName}`);
    // #announcer already speaks each incoming message with its sender; a live log would say it twice.
    conversation.setAttribute('aria-live', 'off');
    const list = el('ol', 'log-items');
    conversation.append(list);
    log.append(conversation);
    this.logsBox.append(log);
    this.logs.set(session.id, log);
    this.lists.set(session.id, list);
    for (const item of session.items) list.append(this.renderItem(item));

    const tab = el('button', 'tab');
    tab.type = 'button';
    tab.id = `tab-${session.id}`;
    tab.setAttribute('role', 'tab');
    tab.setAttribute('aria-controls', log.id);
    tab.dataset.sessionId = session.id;
    tab.addEventListener('click', () => this.activate(session.id));
    this.tabList.append(tab);
    this.tabs.set(session.id, tab);
    log.setAttribute('aria-labelledby', tab.id);

    if (activate || !this.client.activeId) this.activate(session.id);
    else this.render();
  }

  onSessionRemoved({ session }) {
    this.logs.get(session.id)?.remove();
    this.tabs.get(session.id)?.remove();
    this.logs.delete(session.id);
    this.lists.delete(session.id);
    this.tabs.delete(session.id);
    clearTimeout(this.typingTimers.get(session.id));
    this.typingTimers.delete(session.id);
    if (!this.client.activeId) {
      const next = [...this.client.sessions.keys()].pop();
      if (next) {
        this.activate(next);
        return;
      }
    }
    this.render();
  }

  activate(sessionId) {
    this.client.setActive(sessionId);
    for (const [id, log] of this.logs) log.hidden = id !== sessionId;
    this.render();
    this.scrollToEnd(sessionId, true);
    if (this.body.dataset.view === 'chat' && !this.input.disabled) this.input.focus();
  }

  onTabKey(event) {
    const ids = [...this.tabs.keys()];
    const at = ids.indexOf(this.client.activeId);
    let next = -1;
    if (event.key === 'ArrowRight') next = (at + 1) % ids.length;
    else if (event.key === 'ArrowLeft') next = (at - 1 + ids.length) % ids.length;
    else if (event.key === 'Home') next = 0;
    else if (event.key === 'End') next = ids.length - 1;
    if (next < 0) return;
    event.preventDefault();
    this.activate(ids[next]);
    this.tabs.get(ids[next])?.focus();
  }

  // ---- messages ----

  onItem({ session, item, incoming }) {
    const log = this.logs.get(session.id);
    const list = this.lists.get(session.id);
    if (!log || !list) return;
    const nearEnd = log.scrollHeight - log.scrollTop - log.clientHeight < 80;
    list.append(this.renderItem(item));
    if (item instanceof Message && item.own) this.scrollToEnd(session.id, true);
    else this.scrollToEnd(session.id, nearEnd);
    if (incoming) {
      this.announce(item instanceof Message ? `${session.partnerName}: ${item.content}` : item.notice);
    }
    this.renderTabs();
  }

  onItemUpdated({ item }) {
    const node = this.itemNodes.get(item);
    if (node) this.fillStatus(node, item);
  }

  renderItem(item) {
    if (!(item instanceof Message)) {
      const li = el('li', 'notice', item.notice);
      li.dataset.kind = item.kind;
      return li;
    }
    const li = el('li', `msg ${item.own ? 'own' : 'partner'}`);
    if (item.msgId) li.dataset.msgId = item.msgId;
    const bubble = el('div', 'bubble');
    bubble.append(el('p', 'text', item.content));
    const meta = el('div', 'meta');
    const time = el('time', 'time', timeFormat.format(new Date(item.time)));
    time.dateTime = new Date(item.time).toISOString();
    meta.append(time);
    if (item.own) {
      // An image named by its label: screen readers say "Read", not "check mark check mark".
      const status = el('span', 'status');
      status.setAttribute('role', 'img');
      meta.append(status);
    }
    bubble.append(meta);
    li.append(bubble);
    if (item.own) li.append(el('p', 'problem'));
    this.itemNodes.set(item, li);
    this.fillStatus(li, item);
    return li;
  }

  fillStatus(li, item) {
    if (!item.own) return;
    li.dataset.status = item.status;
    if (item.msgId) li.dataset.msgId = item.msgId;
    const status = li.querySelector('.status');
    const text = statusText[item.status] ?? statusText.sending;
    status.textContent = text.mark;
    status.title = text.label;
    status.setAttribute('aria-label', text.label);
    const problem = li.querySelector('.problem');
    problem.textContent = item.problem ?? '';
    problem.hidden = !item.problem;
  }

  sendCurrent() {
    const id = this.client.activeId;
    const text = this.input.value;
    if (!id || text.trim().length === 0) {
      this.input.focus();
      return;
    }
    if (this.client.send(id, text)) this.input.value = '';
    this.input.focus();
  }

  onTyping({ session, typing }) {
    clearTimeout(this.typingTimers.get(session.id));
    this.typingTimers.delete(session.id);
    if (typing) {
      this.typingTimers.set(session.id, setTimeout(() => {
        this.typingTimers.delete(session.id);
        this.renderTyping();
      }, TypingShownMs));
    }
    this.renderTyping();
  }

  renderTyping() {
    const session = this.client.sessions.get(this.client.activeId);
    const show = Boolean(session && !session.ended && this.typingTimers.has(session.id));
    this.typing.hidden = !show;
    this.typing.textContent = show ? `${session.partnerName} is typing…` : '';
  }

  announce(text) {
    this.announcer.append(el('p', null, text));
    while (this.announcer.childElementCount > AnnouncerKeep) this.announcer.firstElementChild.remove();
  }

  scrollToEnd(sessionId, force) {
    const log = this.logs.get(sessionId);
    if (log && force) log.scrollTop = log.scrollHeight;
  }

  // ---- connection ----

  onConnection(detail) {
    const c = this.client;
    this.body.dataset.connection = detail.state;
    this.body.dataset.ready = String(c.ready);
    clearInterval(this.countdown);
    this.countdown = 0;
    const involved = c.account !== null || c.pendingNickName !== null;
    let text = null;
    let canRetry = true;
    if (detail.state === ConnectionState.Waiting) {
      // Counters a test (or a curious user in devtools) can read: drops seen, comebacks made.
      this.body.dataset.drops = String(Number(this.body.dataset.drops ?? 0) + 1);
      // A socket the server refused says why (close 1008, "too many connections from your address").
      const why = detail.code === 1008 && detail.reason ? `The server closed the connection: ${detail.reason}.` : 'Connection lost.';
      const tick = () => {
        const seconds = Math.max(0, Math.ceil((detail.retryAt - Date.now()) / 1000));
        this.bannerText.textContent = seconds > 0
          ? `${why} Reconnecting in ${seconds} s… Your conversation stays here.`
          : `${why} Reconnecting…`;
      };
      this.countdown = setInterval(tick, 500);
      tick();
      text = this.bannerText.textContent;
    } else if (detail.state === ConnectionState.Connecting && (detail.attempt > 0 || this.restoring)) {
      text = 'Reconnecting…';
      canRetry = false;
    } else if (detail.state === ConnectionState.Open && !c.ready && c.account !== null) {
      text = 'Reconnecting…';
      canRetry = false;
    } else if (detail.state === ConnectionState.Stopped && detail.replaced) {
      text = 'This chat was opened in another window or tab.';
      this.retryButton.textContent = 'Use it here';
    } else if (detail.state === ConnectionState.Stopped && detail.banned) {
      text = this.bannedText ?? 'You are banned from this chat.';
      canRetry = false;
    }
    if (detail.state !== ConnectionState.Stopped) this.retryButton.textContent = 'Reconnect now';
    const show = (involved || detail.banned === true) && text !== null;
    this.banner.hidden = !show;
    this.retryButton.hidden = !canRetry;
    if (show) this.bannerText.textContent = text;
    this.render();
  }

  // ---- the whole page ----

  currentView() {
    const c = this.client;
    if (c.account === null && c.pendingNickName === null && !this.restoring) return 'start';
    if (c.sessions.size > 0) return 'chat';
    return 'waiting';
  }

  render() {
    const c = this.client;
    const view = this.currentView();
    if (this.body.dataset.view !== view) {
      this.body.dataset.view = view;
      $('view-start').hidden = view !== 'start';
      $('view-waiting').hidden = view !== 'waiting';
      $('view-chat').hidden = view !== 'chat';
      if (view === 'start') this.nickInput.focus();
      if (view === 'chat') this.input.focus();
    }
    this.waitingTitle.textContent = c.checking ? 'Checking your browser…' : this.restoring ? 'Reconnecting…' : 'Looking for a stranger…';
    this.checkNote.hidden = !c.checking;
    this.body.dataset.checking = String(c.checking);
    $('view-waiting').setAttribute('aria-busy', String(c.checking));
    if (view !== 'waiting' || c.checking) this.stats.textContent = '';
    this.renderWish(view === 'waiting' && !c.checking && !this.restoring && c.wantMatch);
    this.renderTabs();

    const session = c.sessions.get(c.activeId);
    this.matching.hidden = !((c.wantMatch || c.matchRefused) && view === 'chat');
    this.matching.textContent = c.matchRefused ?? 'Looking for another stranger…';
    this.matching.dataset.refused = String(c.matchRefused !== null);
    if (session) {
      this.partnerTitle.textContent = session.partnerName;
      const state = session.ended ? 'ended' : session.partnerAway ? 'away' : 'online';
      this.partnerDot.dataset.state = state;
      this.partnerTitle.title = { ended: 'Chat ended', away: 'Connection dropped', online: 'Online' }[state];
      this.body.dataset.sessionId = session.id;
    } else {
      this.partnerTitle.textContent = c.wantMatch ? 'Looking for a stranger…' : 'No conversation';
      this.partnerDot.dataset.state = 'ended';
      delete this.body.dataset.sessionId;
    }
    const live = Boolean(session && !session.ended);
    this.endButton.disabled = !live;
    this.newStrangerButton.disabled = c.wantMatch;
    this.input.disabled = !live;
    this.sendButton.disabled = !live;
    this.input.placeholder = live ? 'Type a message…' : session ? 'This chat has ended.' : 'No conversation open.';
    this.renderTyping();
  }

  /** The waiting screen says whom it looks for, and, once the fallback delay is over, that nobody shares the interests yet. */
  renderWish(waiting) {
    clearTimeout(this.wishTimer);
    this.wishTimer = 0;
    const { interests, lang } = this.client.wish;
    if (!waiting || (interests.length === 0 && !lang)) {
      this.wishNote.hidden = true;
      this.wishNote.textContent = '';
      return;
    }
    const since = this.client.waitingSince || Date.now();
    const left = since + FallbackSeconds * 1000 - Date.now();
    let text;
    if (left > 0) {
      const whom = interests.length > 0 ? `someone who likes ${interests.join(', ')}` : `someone who speaks ${this.picker.lang.selectedOptions[0]?.textContent ?? lang}`;
      text = `Looking for ${whom}; anyone after ${FallbackSeconds} s`;
      this.wishTimer = setTimeout(() => this.render(), left + 50);
    } else {
      text = interests.length > 0 ? 'Nobody shares your interests yet; looking for anyone.' : 'Nobody who speaks your language yet; looking for anyone.';
    }
    if (this.wishNote.textContent !== text) this.wishNote.textContent = text;
    this.wishNote.hidden = false;
  }

  renderTabs() {
    const c = this.client;
    let unread = 0;
    for (const session of c.sessions.values()) unread += session.unread;
    document.title = unread > 0 ? `(${unread}) ${this.baseTitle}` : this.baseTitle;
    this.tabList.hidden = c.sessions.size < 2;
    for (const [id, tab] of this.tabs) {
      const session = c.sessions.get(id);
      if (!session) continue;
      const selected = id === c.activeId;
      tab.setAttribute('aria-selected', String(selected));
      tab.tabIndex = selected ? 0 : -1;
      tab.classList.toggle('ended', session.ended);
      tab.textContent = '';
      tab.append(el('span', 'tab-name', session.partnerName));
      if (session.unread > 0 && !selected) {
        const badge = el('span', 'badge', String(session.unread));
        badge.setAttribute('aria-label', `${session.unread} unread`);
        tab.append(badge);
      }
    }
  }
}
