// The GroupShare HTTP API (docs/openapi.yaml), called exactly as any client calls it: the same
// routes, `Authorization: Bearer <token>`, JSON bodies, and errors as `{"error": {code, message}}`
// (or, from API Gateway itself, `{"message"}`: a refused token's 401, throttling's 429).

export class ApiError extends Error {
  constructor(status, code, message, requestId) {
    super(message);
    this.status = status;
    this.code = code;
    this.requestId = requestId;
  }
}

export function createApi({ base, getToken, onUnauthorized }) {
  async function request(method, path, { body, query, accept = 'application/json', signal } = {}) {
    const url = new URL(base + path, location.href);
    for (const [key, value] of Object.entries(query || {})) {
      if (value !== undefined && value !== null && value !== '') url.searchParams.set(key, value);
    }
    const headers = { Accept: accept };
    const token = await getToken();
    if (token) headers.Authorization = `Bearer ${token}`;
    if (body !== undefined) headers['Content-Type'] = 'application/json';
    let response;
    try {
      response = await fetch(url, {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
        // Cookies are never the credential; the bearer token is.
        credentials: 'omit',
        signal,
      });
    } catch (e) {
      if (signal?.aborted) throw signal.reason;
      throw new ApiError(0, 'network', `Could not reach GroupShare (${e.message}).`);
    }
    if (response.status === 204) return null;
    const text = await response.text();
    let data = null;
    try {
      data = text ? JSON.parse(text) : null;
    } catch {
      // A gateway or proxy answered with something that is not the API's JSON.
    }
    if (!response.ok) {
      const err = data && data.error;
      // API Gateway's authorizer says no more than "Unauthorized": say what it means here.
      const refused = response.status === 401 && 'your sign-in has expired or is no longer accepted.';
      const error = new ApiError(
        response.status,
        err ? err.code : refused ? 'unauthenticated' : 'http_' + response.status,
        err ? err.message : refused || `The server answered ${response.status} ${response.statusText}.`,
        response.headers.get('x-request-id'),
      );
      if (response.status === 401) onUnauthorized(error);
      throw error;
    }
    return data;
  }

  const conv = (cid) => `/conversations/${encodeURIComponent(cid)}`;
  return {
    config: () => request('GET', '/config'),
    /** The home screen: groups by last activity, each with a preview, `read_seq`, `unread_count`. */
    conversations: (cursor, limit = 50) => request('GET', '/conversations', { query: { cursor, limit } }),
    /** Moves the caller's read marker forward (never back): `{read_seq, last_seq, unread_count}`. */
    markRead: (cid, seq) => request('PUT', `${conv(cid)}/read`, { body: { seq } }),
    /** `requestId` makes a retry of the same request return the group it created. */
    createConversation: (title, members, requestId = newId()) =>
      request('POST', '/conversations', { body: { title, members, client_request_id: requestId } }),
    /** Title, the caller's role, member count, newest seq, retention, the caller's read marker
     *  (members only). */
    conversation: (cid) => request('GET', conv(cid)),
    members: (cid, cursor, limit) => request('GET', `${conv(cid)}/members`, { query: { cursor, limit } }),
    addMember: (cid, userId) => request('POST', `${conv(cid)}/members`, { body: { user_id: userId } }),
    /** Remove a member (owners/admins), or leave (yourself). */
    leave: (cid, userId) => request('DELETE', `${conv(cid)}/members/${encodeURIComponent(userId)}`),
    changeRole: (cid, userId, role) =>
      request('PATCH', `${conv(cid)}/members/${encodeURIComponent(userId)}`, { body: { role } }),
    messages: (cid, { before, after, limit } = {}) =>
      request('GET', `${conv(cid)}/messages`, { query: { before, after, limit } }),
    /** Recall (sender, within the window) or delete (owner/admin): `{message, system_message?}`. */
    deleteMessage: (cid, seq) => request('DELETE', `${conv(cid)}/messages/${encodeURIComponent(seq)}`),
    /** The same `clientMsgId` makes a retry answer the message already stored. */
    sendText: (cid, text, clientMsgId = newId()) =>
      request('POST', `${conv(cid)}/messages`, { body: { client_msg_id: clientMsgId, text } }),
    /** File info for many ids in one call: `{files, missing}`. */
    /** With a presigned URL of each ready preview (`preview_urls`): a grid in one request. */
    filesByIds: (cid, ids) =>
      request('GET', `${conv(cid)}/files`, { query: { ids: ids.join(','), preview_urls: 'small' } }),
    listFiles: (cid, cursor, limit) =>
      request('GET', `${conv(cid)}/files`, { query: { cursor, limit, preview_urls: 'small' } }),
    /** The group's files matching `filters` ({q, type, uploader, after, before, include}), newest
     *  first; `signal` drops a search overtaken by a newer one. */
    searchFiles: (cid, filters, cursor, limit, signal) =>
      request('GET', `${conv(cid)}/files`, { query: { ...filters, cursor, limit, preview_urls: 'small' }, signal }),
    /** Files across every group the caller is in now, newest first; each names its group
     *  (`conversation_id`, `conversation_title`). The same filters. */
    allFiles: (filters, cursor, limit, signal) =>
      request('GET', '/files', { query: { ...filters, cursor, limit, preview_urls: 'small' }, signal }),
    /** Shares a copy in another group the caller is in: `{message, file}`. The same `clientMsgId`
     *  makes a retry answer the same copy. */
    forwardFile: (cid, fileId, toCid, clientMsgId) =>
      request('POST', `${conv(cid)}/files/${encodeURIComponent(fileId)}/forward`, {
        body: { to_conversation_id: toCid, client_msg_id: clientMsgId },
      }),
    /** `{url, expires_at}` of an image file's preview (`small` or `large`). */
    previewLink: (cid, fileId, size) =>
      request('GET', `${conv(cid)}/files/${encodeURIComponent(fileId)}/preview`, { query: { size } }),
    /** JSON download mode: the presigned URL instead of a 302 a cross-origin fetch cannot follow usefully. */
    downloadLink: (cid, fileId) => request('GET', `${conv(cid)}/files/${encodeURIComponent(fileId)}/download`),
    startUpload: (cid, meta) => request('POST', `${conv(cid)}/uploads`, { body: meta }),
    completeUpload: (cid, fileId) =>
      request('POST', `${conv(cid)}/files/${encodeURIComponent(fileId)}/complete`),
    /** A multipart upload's state: the parts storage holds and the ones `missing`. */
    uploadState: (cid, fileId) => request('GET', `${conv(cid)}/uploads/${encodeURIComponent(fileId)}`),
    /** Part URLs for `[{part_number, sha256}]`; each binds its part's checksum. */
    partUrls: (cid, fileId, parts) =>
      request('POST', `${conv(cid)}/uploads/${encodeURIComponent(fileId)}/parts`, { body: { parts } }),
    abortUpload: (cid, fileId) => request('DELETE', `${conv(cid)}/uploads/${encodeURIComponent(fileId)}`),
    /** The caller's profile (created at the first call, named from the token). */
    me: () => request('GET', '/me'),
    updateMe: (change) => request('PUT', '/me', { body: change }),
    /** Names of up to 100 people the caller shares a group with: `{users}`. */
    users: (ids) => request('GET', '/users', { query: { ids: ids.join(',') } }),
    /** `client_request_id` makes a retried request answer with the invite it made. */
    createInvite: (cid, options = {}) =>
      request('POST', `${conv(cid)}/invites`, { body: { client_request_id: newId(), ...options } }),
    invites: (cid) => request('GET', `${conv(cid)}/invites`, { query: { limit: 100 } }),
    revokeInvite: (cid, code) => request('DELETE', `${conv(cid)}/invites/${encodeURIComponent(code)}`),
    /** What an invite would join: `{title, member_count, inviter_name}`. */
    invitePreview: (code) => request('GET', `/invites/${encodeURIComponent(code)}`),
    acceptInvite: (code) => request('POST', `/invites/${encodeURIComponent(code)}/accept`),
  };
}

export function newId() {
  return crypto.randomUUID();
}

/** Lowercase hex SHA-256 of a file or a slice of one (declared to S3, which checks it). */
export async function sha256Hex(blob) {
  const digest = await crypto.subtle.digest('SHA-256', await blob.arrayBuffer());
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, '0')).join('');
}

/** PUTs one part to its presigned URL with exactly the headers it was signed with (fetch drops
 *  `content-length`, which it may not set, and sends the blob's, the same); `signal`
 *  aborts it (the upload was cancelled). */
export async function putPart(part, blob, signal) {
  let response;
  try {
    response = await fetch(part.url, { method: part.method || 'PUT', headers: part.headers, body: blob, credentials: 'omit', signal });
  } catch (e) {
    if (signal?.aborted) throw signal.reason;
    throw new ApiError(0, 'network', 'The upload could not reach storage.');
  }
  if (!response.ok) {
    throw new ApiError(response.status, 's3_' + response.status, s3Message(await response.text(), response.status));
  }
}

/**
 * Sends a file with the presigned POST form the API returned: the form's fields, then the file,
 * as multipart/form-data straight to S3 (another origin; the bucket's CORS rule allows it).
 * XMLHttpRequest, because fetch reports no upload progress. `signal` aborts it (cancelled).
 */
export function postToS3(upload, file, onProgress, signal) {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(signal.reason);
      return;
    }
    const form = new FormData();
    for (const [key, value] of Object.entries(upload.fields)) form.append(key, value);
    form.append('file', file);
    const xhr = new XMLHttpRequest();
    xhr.open(upload.method || 'POST', upload.url);
    xhr.upload.onprogress = (e) => {
      if (e.lengthComputable) onProgress(e.loaded / e.total);
    };
    xhr.onload = () => {
      if (xhr.status >= 200 && xhr.status < 300) return resolve();
      reject(new ApiError(xhr.status, 's3_' + xhr.status, s3Message(xhr.responseText, xhr.status)));
    };
    xhr.onerror = () => reject(new ApiError(0, 'network', 'The upload could not reach storage.'));
    xhr.onabort = () => reject(signal?.reason || new DOMException('The upload was cancelled.', 'AbortError'));
    signal?.addEventListener('abort', () => xhr.abort(), { once: true });
    xhr.send(form);
  });
}

function s3Message(xml, status) {
  try {
    const doc = new DOMParser().parseFromString(xml, 'application/xml');
    const message = doc.querySelector('Message');
    if (message && message.textContent) return `Storage refused the upload: ${message.textContent}`;
  } catch {
    // not XML
  }
  return `Storage refused the upload (${status}).`;
}
