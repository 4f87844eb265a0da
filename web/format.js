// Human-readable sizes, times and file types.

export function humanSize(bytes) {
  if (bytes < 1024) return `${bytes} B`;
  const units = ['KB', 'MB', 'GB', 'TB'];
  let value = bytes / 1024;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return `${value < 10 ? value.toFixed(1) : Math.round(value)} ${units[unit]}`;
}

const relative = new Intl.RelativeTimeFormat('en', { numeric: 'auto' });
const STEPS = [
  // No weeks: "expires in 7 days" says more than "next week".
  ['year', 365 * 86400], ['month', 30 * 86400],
  ['day', 86400], ['hour', 3600], ['minute', 60], ['second', 1],
];

/** "in 3 days", "2 hours ago", "now". */
export function fromNow(iso, now = Date.now()) {
  const seconds = Math.round((Date.parse(iso) - now) / 1000);
  if (Math.abs(seconds) < 45) return seconds >= 0 && seconds > 5 ? 'in a few seconds' : 'just now';
  for (const [unit, size] of STEPS) {
    if (Math.abs(seconds) >= size) return relative.format(Math.round(seconds / size), unit);
  }
  return 'just now';
}

/** How often relative times on screen are said again. */
export const CLOCK_MS = 60 * 1000;

/** Says again the relative times in view (`<time data-relative>`): "just now" grows older. */
export function refreshTimes(root, now = Date.now()) {
  for (const t of root.querySelectorAll('time[data-relative]')) {
    const box = t.getBoundingClientRect();
    if (box.bottom < 0 || box.top > window.innerHeight) continue; // off screen: next time
    const text = fromNow(t.dateTime, now);
    if (t.textContent !== text) t.textContent = text;
  }
}

const absolute = new Intl.DateTimeFormat('en', { dateStyle: 'medium', timeStyle: 'short' });
export function when(iso) {
  return absolute.format(new Date(iso));
}

/** The reader's calendar day of a time ("2026-3-5"): messages are grouped by it. */
export function dayKey(iso) {
  const d = new Date(iso);
  return `${d.getFullYear()}-${d.getMonth() + 1}-${d.getDate()}`;
}

const weekday = new Intl.DateTimeFormat('en', { weekday: 'long', month: 'long', day: 'numeric' });
const dated = new Intl.DateTimeFormat('en', { weekday: 'long', month: 'long', day: 'numeric', year: 'numeric' });

/** "Today", "Yesterday", "Monday, March 2", with the year when it is not this one. */
export function dayLabel(iso, now = Date.now()) {
  const day = dayKey(iso);
  if (day === dayKey(now)) return 'Today';
  const yesterday = new Date(now);
  yesterday.setDate(yesterday.getDate() - 1);
  if (day === dayKey(yesterday)) return 'Yesterday';
  const d = new Date(iso);
  return (d.getFullYear() === new Date(now).getFullYear() ? weekday : dated).format(d);
}

/** What a file's expiry means to the reader. */
export function expiry(file) {
  if (!file.expires_at) return 'kept until deleted';
  return Date.parse(file.expires_at) > Date.now()
    ? `expires ${fromNow(file.expires_at)}`
    : `expired ${fromNow(file.expires_at)}`;
}

/** A short type label and a colour family for the file-type tile. */
export function fileType(name, contentType = '') {
  const ext = (name.includes('.') ? name.split('.').pop() : '').toLowerCase();
  const ct = contentType.toLowerCase();
  if (ct === 'application/pdf' || ext === 'pdf') return { label: 'PDF', kind: 'pdf' };
  if (ct.startsWith('image/')) return { label: (ext || 'img').slice(0, 4).toUpperCase(), kind: 'image' };
  if (ct.startsWith('video/')) return { label: 'VID', kind: 'video' };
  if (ct.startsWith('audio/')) return { label: 'AUD', kind: 'audio' };
  if (['zip', 'gz', 'tgz', 'rar', '7z', 'tar'].includes(ext) || ct.includes('zip')) return { label: ext.toUpperCase() || 'ZIP', kind: 'archive' };
  if (['xls', 'xlsx', 'csv', 'ods'].includes(ext)) return { label: ext.toUpperCase(), kind: 'sheet' };
  if (['doc', 'docx', 'odt', 'rtf', 'md'].includes(ext)) return { label: ext.toUpperCase(), kind: 'doc' };
  // Markup before plain text: an .html file is a page (its content type may say text/plain).
  if (['html', 'htm', 'xhtml'].includes(ext) || ct === 'text/html') return { label: 'HTML', kind: 'code' };
  // Other text keeps its own extension (LOG, JSON, XML…); TXT when it has none.
  if (ct.startsWith('text/') || ext === 'txt') return { label: (ext || 'txt').slice(0, 4).toUpperCase(), kind: 'text' };
  return { label: (ext || 'file').slice(0, 4).toUpperCase(), kind: 'other' };
}

export const STATUS_TEXT = {
  pending: 'Uploading',
  available: 'Available',
  expired: 'Expired',
  deleted: 'Deleted',
  missing: 'Unavailable',
};

/** Why the download action is off, for a file that is not available. */
export const UNAVAILABLE_REASON = {
  pending: 'The upload has not finished yet.',
  expired: 'This file passed its retention period and is no longer stored.',
  deleted: 'This file was deleted.',
  missing: 'This file is no longer part of the group.',
};

/** Whole characters as a reader sees them (an emoji, a flag, a family), not UTF-16 halves. */
export const graphemes = (text) => Array.from(new Intl.Segmenter().segment(text), (g) => g.segment);

/** Up to two letters: a name's initials ("Alice Liddell" → AL), else its first two. */
export function initials(name) {
  const words = name.trim().split(/\s+/).filter(Boolean);
  if (words.length > 1) return (graphemes(words[0])[0] + graphemes(words[1])[0]).toUpperCase();
  return graphemes(name).slice(0, 2).join('').toUpperCase();
}

/** A system event that deletes the message its `seq` names (a recall, or a moderator's deletion). */
export function isDeletion(event) {
  return event === 'message_deleted' || event === 'message_recalled';
}
