// The client protocol of docs/protocol.md: command names, result codes and a JSON codec that
// keeps 64-bit ids exact (ids travel as JSON numbers; JavaScript numbers lose digits past 2^53).

export const Cmd = Object.freeze({
  CreateAccountReq: 'CRT_ACCOUNT_REQ',
  CreateAccountResp: 'CRT_ACCOUNT_RESP',
  ReconnectReq: 'RECONNECT_REQ',
  ReconnectResp: 'RECONNECT_RESP',
  MatchReq: 'MATCH_REQ',
  MatchResp: 'MATCH_RESP',
  DialogueReq: 'DIALOGUE_REQ',
  DialogueResp: 'DIALOGUE_RESP',
  PushDialogueReq: 'PUSH_DIALOGUE_REQ',
  PushDialogueResp: 'PUSH_DIALOGUE_RESP',
  PushSignalReq: 'PUSH_SIGNAL_REQ',
  PushViewedAckReq: 'PUSH_VIEWED_ACK_REQ',
  ViewedAckReq: 'VIEWED_ACK_REQ',
  ViewedAckResp: 'VIEWED_ACK_RESP',
  PingReq: 'PING_REQ',
  PingResp: 'PING_RESP',
  EndSessionReq: 'END_SESSION_REQ',
  EndSessionResp: 'END_SESSION_RESP',
  ReportReq: 'REPORT_REQ',
  ReportResp: 'REPORT_RESP',
  TypingReq: 'TYPING_REQ',
  StatsReq: 'STATS_REQ',
  StatsResp: 'STATS_RESP',
  ErrorResp: 'ERROR_RESP',
});

export const Signal = Object.freeze({
  NewSession: 'NewSession',
  PartnerExit: 'PartnerExit',
  PartnerAway: 'PartnerAway',
  PartnerBack: 'PartnerBack',
  Typing: 'Typing',
});

export const Code = Object.freeze({
  Success: 0,
  ParamErr: 1,
  InternalErr: 2,
  UnknownErr: 3,
  NoDataFound: 4,
  RateLimited: 5,
  ChallengeRequired: 6,
  Banned: 7,
});

/** Nicknames are trimmed, then 1 to 30 characters with no control characters. */
export const MaxNickNameLength = 30;
/** Message content is 1 to 1000 characters (Chat:Logic:MaxContentLength). */
export const MaxContentLength = 1000;

const idKeys = new Set(['accountid', 'partnerid', 'sessionid', 'msgid', 'senderid', 'receiverid', 'partnerreadupto']);

/**
 * Parses one server frame. Id fields become decimal strings, read from the source text where
 * the browser offers it, so no digit is lost. Keys are matched case-insensitively, as the
 * server does, by lower-casing the top-level and `data` keys.
 */
export function decode(text) {
  const frame = JSON.parse(text, function reviver(key, value, context) {
    if (typeof value === 'number' && idKeys.has(key.toLowerCase())) {
      return context && typeof context.source === 'string' ? context.source : String(value);
    }
    return value;
  });
  if (frame === null || typeof frame !== 'object' || Array.isArray(frame)) {
    throw new Error('frame is not a JSON object');
  }
  return normalizeKeys(frame);
}

const knownKeys = [
  'cmd', 'code', 'msg', 'nickName', 'accountId', 'token', 'partnerId', 'partnerName', 'sessionId',
  'requestId', 'msgId', 'senderId', 'receiverId', 'content', 'sentAt', 'signalType', 'data',
  'sessions', 'partnerOnline', 'partnerReadUpTo', 'online', 'waiting', 'retryAfter', 'challenge',
  'commonInterests',
];
const canonical = new Map(knownKeys.map((k) => [k.toLowerCase(), k]));

function normalizeKeys(value) {
  if (Array.isArray(value)) return value.map(normalizeKeys);
  if (value === null || typeof value !== 'object') return value;
  const out = {};
  for (const [k, v] of Object.entries(value)) {
    out[canonical.get(k.toLowerCase()) ?? k] = normalizeKeys(v);
  }
  return out;
}

/** Serializes one client frame; id fields given as decimal strings go out as exact JSON numbers. */
export function encode(frame) {
  return JSON.stringify(frame, function replacer(key, value) {
    if (typeof value === 'string' && idKeys.has(key.toLowerCase()) && /^\d+$/.test(value)) {
      return typeof JSON.rawJSON === 'function' ? JSON.rawJSON(value) : Number(value);
    }
    return value;
  });
}

/** Compares two decimal id strings numerically: negative, zero or positive. */
export function compareIds(a, b) {
  const x = BigInt(a ?? 0);
  const y = BigInt(b ?? 0);
  return x < y ? -1 : x > y ? 1 : 0;
}

/** A fresh requestId for DIALOGUE_REQ (the seed's client sends a UUID too). */
export function newRequestId() {
  if (typeof crypto.randomUUID === 'function') return crypto.randomUUID();
  const b = crypto.getRandomValues(new Uint8Array(16));
  return Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
}

/** Counts user-visible characters (code points), as a person would count a nickname. */
export function charCount(text) {
  return [...text].length;
}

/** Why a nickname is refused, or null when it is fine. */
export function nickNameProblem(raw) {
  const nick = raw.trim();
  if (nick.length === 0) return 'Please enter a nickname.';
  if (charCount(nick) > MaxNickNameLength) {
    return `That nickname is too long: at most ${MaxNickNameLength} characters, please.`;
  }
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f-\u009f]/.test(nick)) return 'A nickname cannot contain control characters.';
  return null;
}
