//! A typed client for the tests: one method per route, its path built from the route table's
//! own template, and replies read into the API's own types (`shared::domain::model`, `shared::api`),
//! failures into [`ApiFailure`] (`ErrorCode` + message). The same client talks to the handlers
//! in process (through [`dispatch`], the local authorizer and router) or to a running local
//! server over HTTP. [`Client::send`] is the raw escape hatch for requests a typed method would
//! not send (malformed input, aliased paths) and for looking at headers and JSON as they are.

use std::marker::PhantomData;

use lambda_http::http::HeaderMap;
use serde::Deserialize;
use serde_json::{json, Value};
use shared::api::conversations::{ConversationDetails, ConversationList, ConversationView};
use shared::api::files::{FileBatch, FileList};
use shared::api::invites::{InviteList, InvitePreview, InviteView};
use shared::api::members::{MemberList, MemberView};
use shared::api::messages::{DeletedMessage, MessagePage};
use shared::api::people::{MyProfile, UserList};
use shared::api::read::ReadState;
use shared::api::uploads::{PartChecksum, PartUrls, UploadState, UploadTicket};
use shared::domain::model::{ClientLimits, FileInfo, MessageView, Role};
use shared::edge::route::ROUTES;
use shared::{App, ErrorCode};

use crate::{dispatch, request};

/// Where requests go.
#[derive(Clone)]
enum Transport<'a> {
    /// Through [`dispatch`] to the handlers, in this process.
    InProcess(&'a App),
    /// Over HTTP to a running server (`base` like `http://127.0.0.1:3000`); no redirects followed.
    Http { base: String, http: reqwest::Client },
}

/// The API as one caller (`X-Dev-User`, which the local authorizer maps to claims) sees it;
/// `None` sends no identity at all.
#[derive(Clone)]
pub struct Client<'a> {
    to: Transport<'a>,
    user: Option<String>,
}

/// `user`'s client for `app`, in process.
pub fn client<'a>(app: &'a App, user: &str) -> Client<'a> {
    Client::new(app, user)
}

impl<'a> Client<'a> {
    pub fn new(app: &'a App, user: &str) -> Self {
        Self {
            to: Transport::InProcess(app),
            user: Some(user.to_string()),
        }
    }

    /// `user`'s client for the server at `base`, over HTTP.
    pub fn over_http(base: &str, http: reqwest::Client, user: &str) -> Client<'static> {
        Client {
            to: Transport::Http {
                base: base.to_string(),
                http,
            },
            user: Some(user.to_string()),
        }
    }

    /// The same API as another caller.
    pub fn as_user(&self, user: &str) -> Self {
        Self {
            to: self.to.clone(),
            user: Some(user.to_string()),
        }
    }

    /// The same API with no identity.
    pub fn anonymous(&self) -> Self {
        Self {
            to: self.to.clone(),
            user: None,
        }
    }

    /// Raw: `method path` (query included, sent as written) with an optional JSON body.
    pub async fn send(&self, method: &str, path: &str, body: Option<Value>) -> Reply {
        match &self.to {
            Transport::InProcess(app) => {
                // Boxed: the handlers' futures are large in debug builds, and tests that
                // hold several calls would otherwise overflow the test thread's stack.
                let response = Box::pin(dispatch(
                    app,
                    request(method, path, self.user.as_deref(), body),
                ))
                .await;
                let bytes: &[u8] = response.body().as_ref();
                Response::read(
                    response.status().as_u16(),
                    response.headers().clone(),
                    bytes,
                )
            }
            Transport::Http { base, http } => {
                let mut req = http.request(method.parse().unwrap(), format!("{base}{path}"));
                if let Some(user) = &self.user {
                    req = req.header("x-dev-user", user);
                }
                if let Some(b) = body {
                    req = req.json(&b);
                }
                let r = req.send().await.unwrap();
                let (status, headers) = (r.status().as_u16(), r.headers().clone());
                Response::read(status, headers, &r.bytes().await.unwrap())
            }
        }
    }

    /// Sends to the route `method template` of [`ROUTES`], with `params` (percent-encoded) in
    /// the template's `{…}` segments, in order.
    async fn route<T>(
        &self,
        method: &str,
        template: &str,
        params: &[&str],
        query: Query,
        body: Option<Value>,
    ) -> Response<T> {
        let path = path(method, template, params);
        self.send(method, &format!("{path}{query}"), body)
            .await
            .typed()
    }

    /// `GET /config`
    pub async fn config(&self) -> Response<ClientLimits> {
        self.route("GET", "/config", &[], Query::new(), None).await
    }

    /// `GET /conversations`
    pub async fn conversations(&self, query: Query) -> Response<ConversationList> {
        self.route("GET", "/conversations", &[], query, None).await
    }

    /// `POST /conversations`
    pub async fn create_conversation(
        &self,
        title: &str,
        members: &[&str],
    ) -> Response<ConversationView> {
        let body = json!({"title": title, "members": members});
        self.route("POST", "/conversations", &[], Query::new(), Some(body))
            .await
    }

    /// `GET /conversations/{cid}`
    pub async fn conversation(&self, cid: &str) -> Response<ConversationDetails> {
        let template = "/conversations/{conversation_id}";
        self.route("GET", template, &[cid], Query::new(), None)
            .await
    }

    /// `PUT /conversations/{cid}/read`
    pub async fn mark_read(&self, cid: &str, seq: u64) -> Response<ReadState> {
        let template = "/conversations/{conversation_id}/read";
        let body = json!({ "seq": seq });
        self.route("PUT", template, &[cid], Query::new(), Some(body))
            .await
    }

    /// `GET /conversations/{cid}/members`
    pub async fn members(&self, cid: &str, query: Query) -> Response<MemberList> {
        let template = "/conversations/{conversation_id}/members";
        self.route("GET", template, &[cid], query, None).await
    }

    /// `POST /conversations/{cid}/members`, with `role` when given.
    pub async fn add_member(
        &self,
        cid: &str,
        user_id: &str,
        role: Option<Role>,
    ) -> Response<MemberView> {
        let mut body = json!({ "user_id": user_id });
        if let Some(role) = role {
            body["role"] = json!(role);
        }
        let template = "/conversations/{conversation_id}/members";
        self.route("POST", template, &[cid], Query::new(), Some(body))
            .await
    }

    /// `PATCH /conversations/{cid}/members/{user_id}`
    pub async fn change_role(&self, cid: &str, user_id: &str, role: Role) -> Response<MemberView> {
        let template = "/conversations/{conversation_id}/members/{user_id}";
        let body = json!({ "role": role });
        self.route("PATCH", template, &[cid, user_id], Query::new(), Some(body))
            .await
    }

    /// `DELETE /conversations/{cid}/members/{user_id}` (a member leaving, or removed).
    pub async fn remove_member(&self, cid: &str, user_id: &str) -> Response<()> {
        let template = "/conversations/{conversation_id}/members/{user_id}";
        self.route("DELETE", template, &[cid, user_id], Query::new(), None)
            .await
    }

    /// `POST /conversations/{cid}/invites` with this body (`expires_in`, `max_uses`).
    pub async fn create_invite(&self, cid: &str, body: Value) -> Response<InviteView> {
        let template = "/conversations/{conversation_id}/invites";
        self.route("POST", template, &[cid], Query::new(), Some(body))
            .await
    }

    /// `GET /conversations/{cid}/invites`
    pub async fn invites(&self, cid: &str, query: Query) -> Response<InviteList> {
        let template = "/conversations/{conversation_id}/invites";
        self.route("GET", template, &[cid], query, None).await
    }

    /// `DELETE /conversations/{cid}/invites/{code}`
    pub async fn revoke_invite(&self, cid: &str, code: &str) -> Response<()> {
        let template = "/conversations/{conversation_id}/invites/{code}";
        self.route("DELETE", template, &[cid, code], Query::new(), None)
            .await
    }

    /// `GET /invites/{code}`
    pub async fn invite_preview(&self, code: &str) -> Response<InvitePreview> {
        self.route("GET", "/invites/{code}", &[code], Query::new(), None)
            .await
    }

    /// `POST /invites/{code}/accept`
    pub async fn accept_invite(&self, code: &str) -> Response<ConversationView> {
        self.route(
            "POST",
            "/invites/{code}/accept",
            &[code],
            Query::new(),
            None,
        )
        .await
    }

    /// `GET /me`
    pub async fn me(&self) -> Response<MyProfile> {
        self.route("GET", "/me", &[], Query::new(), None).await
    }

    /// `PUT /me` with this body (`display_name`, `show_email`).
    pub async fn update_me(&self, body: Value) -> Response<MyProfile> {
        self.route("PUT", "/me", &[], Query::new(), Some(body))
            .await
    }

    /// `GET /users?ids=`
    pub async fn users(&self, ids: &[&str]) -> Response<UserList> {
        self.route(
            "GET",
            "/users",
            &[],
            Query::new().and("ids", ids.join(",")),
            None,
        )
        .await
    }

    /// `GET /conversations/{cid}/messages`
    pub async fn messages(&self, cid: &str, query: Query) -> Response<MessagePage> {
        let template = "/conversations/{conversation_id}/messages";
        self.route("GET", template, &[cid], query, None).await
    }

    /// `POST /conversations/{cid}/messages`
    pub async fn post_message(
        &self,
        cid: &str,
        client_msg_id: &str,
        text: &str,
    ) -> Response<MessageView> {
        let body = json!({"client_msg_id": client_msg_id, "text": text});
        self.post_message_body(cid, body).await
    }

    /// `POST /conversations/{cid}/messages` with a body as given (which may be invalid).
    pub async fn post_message_body(&self, cid: &str, body: Value) -> Response<MessageView> {
        let template = "/conversations/{conversation_id}/messages";
        self.route("POST", template, &[cid], Query::new(), Some(body))
            .await
    }

    /// `DELETE /conversations/{cid}/messages/{seq}` (a recall, or an owner's or admin's deletion)
    pub async fn delete_message(&self, cid: &str, seq: u64) -> Response<DeletedMessage> {
        let template = "/conversations/{conversation_id}/messages/{seq}";
        let seq = seq.to_string();
        self.route("DELETE", template, &[cid, &seq], Query::new(), None)
            .await
    }

    /// `GET /conversations/{cid}/files` (paged listing)
    pub async fn files(&self, cid: &str, query: Query) -> Response<FileList> {
        let template = "/conversations/{conversation_id}/files";
        self.route("GET", template, &[cid], query, None).await
    }

    /// `GET /files` (the caller's groups' files, with search filters)
    pub async fn all_files(
        &self,
        query: Query,
    ) -> Response<FileList<shared::api::search::FoundFile>> {
        self.route("GET", "/files", &[], query, None).await
    }

    /// `GET /conversations/{cid}/files?ids=…` (batch info)
    pub async fn files_batch(&self, cid: &str, ids: &[&str]) -> Response<FileBatch> {
        let template = "/conversations/{conversation_id}/files";
        let query = Query::new().and("ids", ids.join(","));
        self.route("GET", template, &[cid], query, None).await
    }

    /// `GET /conversations/{cid}/files/{file_id}`
    pub async fn file_info(&self, cid: &str, file_id: &str) -> Response<FileInfo> {
        let template = "/conversations/{conversation_id}/files/{file_id}";
        self.route("GET", template, &[cid, file_id], Query::new(), None)
            .await
    }

    /// `GET /conversations/{cid}/files/{file_id}/download`: a `302` (see [`Response::location`]).
    pub async fn download(&self, cid: &str, file_id: &str, query: Query) -> Response<()> {
        let template = "/conversations/{conversation_id}/files/{file_id}/download";
        self.route("GET", template, &[cid, file_id], query, None)
            .await
    }

    /// `GET /conversations/{cid}/files?ids=…&preview_urls=…` (batch info with preview URLs)
    pub async fn files_batch_previews(
        &self,
        cid: &str,
        ids: &[&str],
        size: &str,
    ) -> Response<FileBatch> {
        let template = "/conversations/{conversation_id}/files";
        let query = Query::new()
            .and("ids", ids.join(","))
            .and("preview_urls", size);
        self.route("GET", template, &[cid], query, None).await
    }

    /// `GET /conversations/{cid}/files/{file_id}/preview`: a `302` (or JSON with `Accept`).
    pub async fn preview(&self, cid: &str, file_id: &str, query: Query) -> Response<()> {
        let template = "/conversations/{conversation_id}/files/{file_id}/preview";
        self.route("GET", template, &[cid, file_id], query, None)
            .await
    }

    /// `POST /conversations/{cid}/uploads`; see [`upload_body`] for the usual body.
    pub async fn create_upload(&self, cid: &str, body: Value) -> Response<UploadTicket> {
        let template = "/conversations/{conversation_id}/uploads";
        self.route("POST", template, &[cid], Query::new(), Some(body))
            .await
    }

    /// `GET /conversations/{cid}/uploads/{file_id}`: where the caller's upload stands.
    pub async fn upload_state(&self, cid: &str, file_id: &str) -> Response<UploadState> {
        let template = "/conversations/{conversation_id}/uploads/{file_id}";
        self.route("GET", template, &[cid, file_id], Query::new(), None)
            .await
    }

    /// `POST /conversations/{cid}/uploads/{file_id}/parts`: URLs for `parts` of a multipart
    /// upload.
    pub async fn part_urls(
        &self,
        cid: &str,
        file_id: &str,
        parts: &[PartChecksum],
    ) -> Response<PartUrls> {
        let template = "/conversations/{conversation_id}/uploads/{file_id}/parts";
        let body = json!({ "parts": parts_json(parts) });
        self.route("POST", template, &[cid, file_id], Query::new(), Some(body))
            .await
    }

    /// `DELETE /conversations/{cid}/uploads/{file_id}`: the uploader gives up (a `204`).
    pub async fn abort_upload(&self, cid: &str, file_id: &str) -> Response<()> {
        let template = "/conversations/{conversation_id}/uploads/{file_id}";
        self.route("DELETE", template, &[cid, file_id], Query::new(), None)
            .await
    }

    /// `POST /conversations/{cid}/files/{file_id}/forward` to `to` with `client_msg_id`.
    pub async fn forward(
        &self,
        cid: &str,
        file_id: &str,
        to: &str,
        client_msg_id: &str,
    ) -> Response<shared::api::uploads::ForwardedFile> {
        let template = "/conversations/{conversation_id}/files/{file_id}/forward";
        let body = serde_json::json!({"to_conversation_id": to, "client_msg_id": client_msg_id});
        self.route("POST", template, &[cid, file_id], Query::new(), Some(body))
            .await
    }

    /// `POST /conversations/{cid}/files/{file_id}/complete`
    pub async fn complete_upload(&self, cid: &str, file_id: &str) -> Response<MessageView> {
        let template = "/conversations/{conversation_id}/files/{file_id}/complete";
        let params = [cid, file_id];
        self.route("POST", template, &params, Query::new(), Some(Value::Null))
            .await
    }
}

/// The body of a create-upload request; `sha256` is left out when `None`.
pub fn upload_body(
    client_msg_id: &str,
    name: &str,
    size: usize,
    content_type: &str,
    sha256: Option<&str>,
) -> Value {
    let mut body = json!({
        "client_msg_id": client_msg_id,
        "name": name,
        "size": size,
        "content_type": content_type,
    });
    if let Some(sha256) = sha256 {
        body["sha256"] = json!(sha256);
    }
    body
}

/// Part checksums as requests carry them (`[{"part_number", "sha256"}]`): the `parts` of a
/// part-URLs request, or of a create-upload body (see [`upload_body`]) for a multipart file.
pub fn parts_json(parts: &[PartChecksum]) -> Value {
    parts
        .iter()
        .map(|p| json!({"part_number": p.part_number, "sha256": p.sha256}))
        .collect()
}

/// `template`, a row of [`ROUTES`] under `method`, with `params` filled in.
fn path(method: &str, template: &str, params: &[&str]) -> String {
    assert!(
        ROUTES
            .iter()
            .any(|r| r.method == method && r.template == template),
        "{method} {template} is not in shared::edge::route::ROUTES"
    );
    let mut params = params.iter();
    let path: Vec<String> = template
        .split('/')
        .map(|segment| match segment.starts_with('{') {
            true => encode(params.next().expect("a value for every parameter")),
            false => segment.to_string(),
        })
        .collect();
    assert!(params.next().is_none(), "more values than parameters");
    path.join("/")
}

/// Percent-encodes all but unreserved characters (and `,`, which `?ids=` lists use).
fn encode(value: &str) -> String {
    value
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' | b',' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Query parameters, values percent-encoded: `Query::limit(50).and("before", cursor)`.
#[derive(Clone, Debug, Default)]
pub struct Query(Vec<(&'static str, String)>);

impl Query {
    pub fn new() -> Self {
        Self::default()
    }
    pub fn limit(limit: u32) -> Self {
        Self::new().and("limit", limit)
    }
    pub fn and(mut self, name: &'static str, value: impl ToString) -> Self {
        self.0.push((name, value.to_string()));
        self
    }
}

impl std::fmt::Display for Query {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (i, (name, value)) in self.0.iter().enumerate() {
            let sep = if i == 0 { '?' } else { '&' };
            write!(f, "{sep}{name}={}", encode(value))?;
        }
        Ok(())
    }
}

/// An error reply's `error` object.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
pub struct ApiFailure {
    pub code: ErrorCode,
    pub message: String,
}

/// What came back: status, headers and the body as JSON (`Null` when empty), to be read as a
/// `T` on success ([`Response::ok`], [`Response::created`]) or an [`ApiFailure`] otherwise.
#[derive(Debug)]
pub struct Response<T> {
    pub status: u16,
    pub headers: HeaderMap,
    pub json: Value,
    body: PhantomData<fn() -> T>,
}

/// A reply read as plain JSON.
pub type Reply = Response<Value>;

impl<T> Response<T> {
    pub(crate) fn read(status: u16, headers: HeaderMap, bytes: &[u8]) -> Self {
        let json = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(bytes).unwrap_or_else(|e| {
                panic!("non-JSON body ({e}): {}", String::from_utf8_lossy(bytes))
            })
        };
        Self {
            status,
            headers,
            json,
            body: PhantomData,
        }
    }

    pub fn typed<U>(self) -> Response<U> {
        Response {
            status: self.status,
            headers: self.headers,
            json: self.json,
            body: PhantomData,
        }
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// API Gateway answered `status` itself, as deployed: its own body and request id header,
    /// so no function ran (a function's errors are the API's error shape).
    fn answered_by_the_gateway(&self, status: u16, message: &str) -> bool {
        self.status == status
            && self.json == serde_json::json!({ "message": message })
            && self.header("apigw-requestid").is_some()
    }

    /// API Gateway's JWT authorizer refused the request: its 401, with a challenge.
    pub fn refused_by_the_gateway(&self) -> bool {
        self.answered_by_the_gateway(401, "Unauthorized")
            && self.header("www-authenticate").is_some()
    }

    /// API Gateway found no route for the method and path: its 404 (an HTTP API has no 405).
    pub fn no_route_at_the_gateway(&self) -> bool {
        self.answered_by_the_gateway(404, "Not Found")
    }

    /// The `Location` of a `302`.
    pub fn location(&self) -> &str {
        assert_eq!(self.status, 302, "{:?}", self.json);
        self.header("location").expect("a 302 has a Location")
    }

    /// The failure of an error reply (panics on a success or a body that is no error).
    pub fn failure(&self) -> ApiFailure {
        assert!(
            self.status >= 400,
            "not an error: {} {}",
            self.status,
            self.json
        );
        ApiFailure::deserialize(&self.json["error"])
            .unwrap_or_else(|e| panic!("not an error body ({e}): {}", self.json))
    }

    /// The wire name of an error reply's code; `""` for a reply that is no error (raw).
    pub fn error_code(&self) -> &str {
        self.json["error"]["code"].as_str().unwrap_or("")
    }

    /// Status and code of an error reply, to compare with both at once.
    pub fn error(&self) -> (u16, ErrorCode) {
        (self.status, self.failure().code)
    }

    /// The code of an error reply, or `None` for a reply that is no error.
    pub fn code(&self) -> Option<ErrorCode> {
        (self.status >= 400).then(|| self.failure().code)
    }
}

impl<T: Deserialize<'static>> Response<T> {
    /// The body of a `200`.
    pub fn ok(self) -> T {
        self.expect(200)
    }

    /// The body of a `201`.
    pub fn created(self) -> T {
        self.expect(201)
    }

    /// The body of any `2xx`.
    pub fn success(self) -> T {
        assert!(
            (200..300).contains(&self.status),
            "{} {}",
            self.status,
            self.json
        );
        self.body()
    }

    fn expect(self, status: u16) -> T {
        assert_eq!(self.status, status, "{}", self.json);
        self.body()
    }

    /// The body as a `T`, whatever the status.
    pub fn body(&self) -> T {
        // Read from a `'static` copy: `UploadForm::method` is a `&'static str`, which serde
        // borrows from the input. Test replies are small and the process short-lived.
        let json: &'static Value = Box::leak(Box::new(self.json.clone()));
        T::deserialize(json).unwrap_or_else(|e| panic!("unexpected body ({e}): {json}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_come_from_the_route_table_with_parameters_encoded() {
        let template = "/conversations/{conversation_id}/files/{file_id}";
        let built = path("GET", template, &["c 1", "a/b"]);
        assert_eq!(built, "/conversations/c%201/files/a%2Fb");
        let recall = "/conversations/{conversation_id}/messages/{seq}";
        assert_eq!(
            path("DELETE", recall, &["c", "7"]),
            "/conversations/c/messages/7"
        );
        let query = Query::limit(3).and("ids", "x,y").and("cursor", "a+b");
        assert_eq!(query.to_string(), "?limit=3&ids=x,y&cursor=a%2Bb");
        assert!(std::panic::catch_unwind(|| path("PUT", template, &["c", "f"])).is_err());
    }
}
