// The start screen's wish: interests as chips (type, Enter adds, each chip has a remove button) and
// a language, both kept in sessionStorage so a reload of the tab keeps them. The server folds and
// checks interests again (docs/protocol.md); this folds them the same way only to show them.

const WishKey = 'chat.wish';
export const MaxInterests = 10;
export const MaxInterestLength = 32;
/** Chat:Matching:FallbackDelay's default: after this long a visitor with interests may be paired with anyone. */
export const FallbackSeconds = 5;

const languages = ['en', 'es', 'fr', 'de', 'it', 'pt', 'nl', 'pl', 'ru', 'uk', 'tr', 'ar', 'hi', 'zh', 'ja', 'ko'];

/** An interest as the server folds it: trimmed, NFKC, lower-cased; null when it cannot be one. */
export function foldInterest(raw) {
  const folded = raw.trim().normalize('NFKC').toLowerCase();
  // eslint-disable-next-line no-control-regex
  if (folded.length === 0 || [...folded].length > MaxInterestLength || /[\u0000-\u001f\u007f-\u009f]/.test(folded)) return null;
  return folded;
}

/** The primary subtag of a BCP 47 tag (en-US is en), or null. */
export function primaryLanguage(tag) {
  const primary = String(tag ?? '').split(/[-_]/)[0].toLowerCase();
  return /^[a-z]{2,8}$/.test(primary) ? primary : null;
}

export function loadWish(storage) {
  try {
    const value = JSON.parse(storage.getItem(WishKey) ?? 'null');
    if (value && Array.isArray(value.interests)) {
      const interests = value.interests.map((i) => foldInterest(String(i))).filter((i) => i !== null).slice(0, MaxInterests);
      return { interests: [...new Set(interests)], lang: typeof value.lang === 'string' ? primaryLanguage(value.lang) : null };
    }
  } catch {
    // a broken entry is forgotten
  }
  return null;
}

function saveWish(storage, wish) {
  try {
    storage.setItem(WishKey, JSON.stringify(wish));
  } catch {
    // storage refused: the wish lives as long as the page
  }
}

/** Lists "a", "a and b", "a, b and c" as the browser's language would. */
export function listOf(items) {
  try {
    return new Intl.ListFormat(undefined, { style: 'long', type: 'conjunction' }).format(items);
  } catch {
    return items.join(', ');
  }
}

export class WishPicker {
  /**
   * @param {{input: HTMLInputElement, chips: HTMLElement, error: HTMLElement, lang: HTMLSelectElement, storage: Storage, announce: (text: string) => void}} parts
   */
  constructor(parts) {
    Object.assign(this, parts);
    const stored = loadWish(this.storage);
    this.interests = stored?.interests ?? [];
    this.fillLanguages(stored ? stored.lang : primaryLanguage(navigator.language));
    this.input.addEventListener('keydown', (e) => this.onKey(e));
    this.input.addEventListener('input', () => this.showError(null));
    this.lang.addEventListener('change', () => this.save());
    this.renderChips();
  }

  /** What MATCH_REQ asks for. */
  get wish() {
    return { interests: [...this.interests], lang: this.lang.value || null };
  }

  fillLanguages(preferred) {
    let names = null;
    try {
      names = new Intl.DisplayNames(undefined, { type: 'language' });
    } catch {
      names = null;
    }
    const codes = preferred && !languages.includes(preferred) ? [preferred, ...languages] : languages;
    const any = document.createElement('option');
    any.value = '';
    any.textContent = 'Any language';
    this.lang.append(any);
    for (const code of codes) {
      const option = document.createElement('option');
      option.value = code;
      option.textContent = names?.of(code) ?? code;
      this.lang.append(option);
    }
    this.lang.value = preferred ?? '';
  }

  onKey(event) {
    if (event.key !== 'Enter' || event.isComposing) return;
    // Enter in an empty field submits the form (starts chatting); with text it adds the interest.
    if (this.input.value.trim().length === 0) return;
    event.preventDefault();
    this.add(this.input.value);
  }

  /** Adds what is typed in the field, if it is still there (the form is being sent). */
  addPending() {
    if (this.input.value.trim().length > 0) this.add(this.input.value);
  }

  add(raw) {
    const interest = foldInterest(raw);
    if (interest === null) {
      this.showError(`An interest is 1 to ${MaxInterestLength} characters.`);
      return;
    }
    if (this.interests.includes(interest)) {
      this.input.value = '';
      return;
    }
    if (this.interests.length >= MaxInterests) {
      this.showError(`At most ${MaxInterests} interests: remove one first.`);
      return;
    }
    this.interests.push(interest);
    this.input.value = '';
    this.save();
    this.renderChips();
    this.announce(`Added ${interest}.`);
  }

  remove(interest) {
    const at = this.interests.indexOf(interest);
    if (at < 0) return;
    this.interests.splice(at, 1);
    this.save();
    this.renderChips();
    this.announce(`Removed ${interest}.`);
    // Focus stays in the list: the next chip's button, else the field.
    const buttons = this.chips.querySelectorAll('button');
    (buttons[Math.min(at, buttons.length - 1)] ?? this.input).focus();
  }

  renderChips() {
    this.chips.textContent = '';
    this.chips.hidden = this.interests.length === 0;
    for (const interest of this.interests) {
      const chip = document.createElement('li');
      chip.className = 'chip';
      const name = document.createElement('span');
      name.className = 'chip-name';
      name.textContent = interest;
      const remove = document.createElement('button');
      remove.type = 'button';
      remove.className = 'chip-remove';
      // Named by its text ("Remove jazz"), the × only shown: a name that contains what is seen.
      const mark = document.createElement('span');
      mark.setAttribute('aria-hidden', 'true');
      mark.textContent = '×';
      const label = document.createElement('span');
      label.className = 'visually-hidden';
      label.textContent = `Remove ${interest}`;
      remove.append(mark, label);
      remove.addEventListener('click', () => this.remove(interest));
      chip.append(name, remove);
      this.chips.append(chip);
    }
  }

  showError(text) {
    this.error.hidden = !text;
    this.error.textContent = text ?? '';
    if (text) this.input.setAttribute('aria-invalid', 'true');
    else this.input.removeAttribute('aria-invalid');
  }

  save() {
    saveWish(this.storage, this.wish);
  }
}
