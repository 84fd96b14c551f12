// The operator page: sign-in, then the desk (counts, reports with their evidence, ban / unban, bans,
// refusals, audit), refreshed every few seconds. Everything shown comes from strangers or operators
// and is put on the page as text (textContent), never as HTML.

import { OperatorApi, SignedOut } from './api.js';

const REFRESH_MS = 3000;
const api = new OperatorApi();
const $ = (id) => document.getElementById(id);
let timer = null;
let refreshing = false;
const shown = { refusals: '', audit: '' };

function el(tag, options = {}, ...children) {
  const node = document.createElement(tag);
  if (options.className) node.className = options.className;
  if (options.text !== undefined) node.textContent = String(options.text);
  for (const [name, value] of Object.entries(options.attrs ?? {})) node.setAttribute(name, value);
  for (const child of children) if (child) node.append(child);
  return node;
}

const when = (ms) => new Date(ms).toLocaleString();

function show(view) {
  document.body.dataset.view = view;
  $('view-signin').hidden = view !== 'signin';
  $('view-desk').hidden = view !== 'desk';
  $('who').hidden = view !== 'desk';
}

function say(text) {
  $('status').textContent = text;
}

function signedOut(message) {
  clearInterval(timer);
  timer = null;
  show('signin');
  const error = $('signin-error');
  error.textContent = message ?? '';
  error.hidden = !message;
  $('token').focus();
}

function enterDesk(session) {
  $('who-name').textContent = session.name;
  show('desk');
  refresh();
  clearInterval(timer);
  timer = setInterval(refresh, REFRESH_MS);
}

async function guarded(action, errorBox) {
  if (errorBox) errorBox.hidden = true;
  try {
    await action();
    return true;
  } catch (error) {
    if (error instanceof SignedOut) {
      signedOut(error.message);
    } else if (errorBox) {
      errorBox.textContent = error.message;
      errorBox.hidden = false;
    } else {
      say(error.message);
    }
    return false;
  }
}

async function refresh() {
  if (refreshing) return;
  refreshing = true;
  try {
    await guarded(async () => {
      const [counts, reports, bans, refusals, audit] = await Promise.all([api.counts(), api.reports(), api.bans(), api.refusals(), api.audit()]);
      renderCounts(counts);
      renderReports(reports);
      renderBans(bans);
      renderRefusals(refusals);
      renderAudit(audit);
      document.body.dataset.refreshed = String(Date.now());
    });
  } finally {
    refreshing = false;
  }
}

function renderCounts(counts) {
  const names = [
    ['online', 'online'], ['waiting', 'waiting for a partner'], ['activeSessions', 'chats going on'],
    ['bansInForce', 'bans in force'], ['openReports', 'open reports'],
  ];
  $('counts').replaceChildren(...names.map(([key, label]) => el('div', {}, el('dt', { text: label }), el('dd', { text: counts[key], attrs: { 'data-count': key } }))));
}

// A list keeps the items it already shows (and what an operator is typing in them), adds the new ones and drops the gone ones.
function sync(list, empty, items, key, build) {
  const keep = new Map([...list.children].map((node) => [node.dataset.key, node]));
  const wanted = items.map((item) => {
    const id = key(item);
    const node = keep.get(id) ?? build(item);
    node.dataset.key = id;
    return node;
  });
  wanted.forEach((node, i) => {
    if (list.children[i] !== node) list.insertBefore(node, list.children[i] ?? null);
  });
  while (list.children.length > wanted.length) list.lastElementChild.remove();
  empty.hidden = items.length > 0;
}

function renderReports(reports) {
  sync($('reports'), $('reports-empty'), reports, (r) => r.id, buildReport);
}

function buildReport(report) {
  const titleId = `report-${report.id}`;
  const item = el('li', { className: 'report', attrs: { 'aria-labelledby': titleId, 'data-report': report.id } });
  item.append(el('h3', { text: `${report.id}: ${report.reason}, ${when(report.createdAt)}`, attrs: { id: titleId } }));
  const facts = el('dl', { className: 'facts' });
  const fact = (label, value) => { if (value !== undefined && value !== null) facts.append(el('dt', { text: label }), el('dd', { text: value })); };
  fact('Reported account', report.reportedId);
  fact('Reported address', report.reportedAddress);
  fact('Reporter', report.reporterId);
  fact('Chat', report.sessionId);
  item.append(facts);
  if (report.note) item.append(el('p', { className: 'note' }, el('strong', { text: 'Note: ' }), document.createTextNode(report.note)));

  if (report.evidence.length > 0) {
    const evidence = el('ol', { className: 'evidence', attrs: { 'aria-label': `The chat's last messages (${report.id})` } });
    for (const line of report.evidence) {
      const who = line.senderId === report.reportedId ? 'reported' : line.senderId === report.reporterId ? 'reporter' : String(line.senderId);
      evidence.append(el('li', { attrs: { 'data-sender': who } }, el('span', { className: 'sender', text: `${who}: ` }), el('span', { className: 'content', text: line.content })));
    }
    item.append(evidence);
  } else {
    item.append(el('p', { className: 'hint', text: 'No messages were sent in this chat.' }));
  }

  const actions = el('div', { className: 'actions' });
  const banAccount = el('button', { className: 'danger', text: 'Ban the reported account', attrs: { type: 'button' } });
  banAccount.addEventListener('click', () => prefillBan('account', String(report.reportedId), `Report ${report.id} (${report.reason})`));
  actions.append(banAccount);
  if (report.reportedAddress && !report.reportedAddress.startsWith('h:')) {
    const banAddress = el('button', { className: 'danger', text: 'Ban the reported address', attrs: { type: 'button' } });
    banAddress.addEventListener('click', () => prefillBan('address', report.reportedAddress, `Report ${report.id} (${report.reason})`));
    actions.append(banAddress);
  }
  item.append(actions);
  item.append(reasonForm(`close-${report.id}`, 'Why close it', 'Close report', (reason) => api.closeReport(report.id, reason)));
  return item;
}

// A one-line form for an action that needs a reason (close a report, lift a ban).
function reasonForm(id, label, button, act) {
  const form = el('form', { className: 'row-form', attrs: { novalidate: '' } });
  const input = el('input', { attrs: { id, type: 'text', maxlength: '500', autocomplete: 'off', required: '' } });
  const error = el('p', { className: 'error', attrs: { role: 'alert', id: `${id}-error` } });
  error.hidden = true;
  input.setAttribute('aria-describedby', error.id);
  form.append(el('label', { attrs: { for: id } }, el('span', { text: label }), input), el('button', { text: button, attrs: { type: 'submit' } }), error);
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const reason = input.value.trim();
    if (!reason) {
      error.textContent = 'Give a reason: the audit log keeps why.';
      error.hidden = false;
      input.focus();
      return;
    }
    if (await guarded(() => act(reason), error)) {
      say(`${button}: done.`);
      await refresh();
    }
  });
  return form;
}

function prefillBan(target, value, reason) {
  const form = $('ban-form');
  form.elements.target.value = target;
  $('ban-value').value = value;
  if (!$('ban-reason').value) $('ban-reason').placeholder = reason;
  $('ban-reason').focus();
  say(`Ban form filled in for ${target} ${value}: give a reason and press Ban.`);
}

function renderBans(bans) {
  sync($('bans'), $('bans-empty'), bans, (b) => b.ref, (ban) => {
    const titleId = `ban-${ban.ref}`;
    const item = el('li', { className: 'ban', attrs: { 'aria-labelledby': titleId, 'data-ban': ban.ref } });
    item.append(el('p', { attrs: { id: titleId } }, el('strong', { text: ban.ref }), document.createTextNode(`: ${ban.target} ${ban.value}, until ${when(ban.until)}`)));
    item.append(el('p', { className: 'note', text: `Reason: ${ban.reason}` }));
    item.append(reasonForm(`lift-${ban.ref}`, 'Why lift it', 'Lift ban', (reason) => api.lift(ban.ref, reason)));
    return item;
  });
}

function renderTable(table, empty, key, rows) {
  const signature = JSON.stringify(rows);
  if (shown[key] === signature) return;
  shown[key] = signature;
  table.tBodies[0].replaceChildren(...rows.map((cells) => el('tr', {}, ...cells.map((cell) => el('td', { text: cell })))));
  table.hidden = rows.length === 0;
  empty.hidden = rows.length > 0;
}

function renderRefusals(refusals) {
  const rows = Object.entries(refusals).filter(([, n]) => n > 0).sort(([a], [b]) => a.localeCompare(b)).map(([kind, n]) => [kind, String(n)]);
  renderTable($('refusals'), $('refusals-empty'), 'refusals', rows);
}

function renderAudit(entries) {
  renderTable($('audit'), $('audit-empty'), 'audit', entries.map((e) => [when(e.at), e.actor, e.action, e.target, e.reason]));
}

$('signin-form').addEventListener('submit', async (event) => {
  event.preventDefault();
  const token = $('token');
  const error = $('signin-error');
  if (!token.value.trim()) {
    error.textContent = 'Enter your operator token.';
    error.hidden = false;
    token.focus();
    return;
  }
  await guarded(async () => {
    const session = await api.signIn(token.value.trim());
    token.value = '';
    enterDesk(session);
  }, error);
});

$('sign-out').addEventListener('click', async () => {
  await guarded(() => api.signOut());
  signedOut('You are signed out.');
});

$('ban-form').addEventListener('submit', async (event) => {
  event.preventDefault();
  const form = event.currentTarget;
  const error = $('ban-error');
  const value = $('ban-value').value.trim();
  const minutes = Number($('ban-minutes').value);
  const reason = $('ban-reason').value.trim();
  if (!value || !reason || !Number.isInteger(minutes) || minutes < 1) {
    error.textContent = 'Give what to ban, for how many minutes (a whole number), and a reason.';
    error.hidden = false;
    return;
  }
  const done = await guarded(async () => {
    const ban = await api.ban(form.elements.target.value, value, minutes, reason);
    say(`Banned: ${ban.ref}, until ${when(ban.until)}.`);
  }, error);
  if (done) {
    form.reset();
    $('ban-reason').placeholder = '';
    await refresh();
  }
});

(async () => {
  try {
    const session = await api.session();
    if (session) enterDesk(session);
    else signedOut();
  } catch (error) {
    signedOut(error.message);
  }
})();
