//! The API's route table, in one place: `(method, path template, function, constructor)`.
//! Handlers dispatch on the [`Route`] it yields, the local server serves it, and tests check
//! `template.yaml` and `docs/openapi.yaml` against it. Templates use API Gateway's `{param}`
//! syntax, which is also `matchit`'s, so the table is matched exactly as written.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use crate::domain::ids::{ConversationId, FileId, UserId};
use crate::ApiError;

/// The function (crate in `functions/`, resource in `template.yaml`) that serves a route.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, strum::EnumIter, strum::IntoStaticStr)]
#[strum(serialize_all = "kebab-case")]
pub enum Function {
    PullMessages,
    FileInfo,
    DownloadRedirect,
    Conversations,
    PostMessage,
    UploadFile,
}

impl Function {
    /// The crate name (`pull-messages`), which is also the template's `Binary`.
    pub fn name(self) -> &'static str {
        self.into()
    }
}

/// One row of the table.
pub struct RouteSpec {
    pub method: &'static str,
    pub template: &'static str,
    pub function: Function,
    build: fn(&Params) -> Result<Route, ApiError>,
}

/// Path parameters of a matched route, percent-decoded.
pub struct Params(Vec<(String, String)>);

impl Params {
    fn get(&self, name: &str) -> String {
        self.0
            .iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    }
    /// The path's ids, parsed here once: the code behind takes them as types.
    fn conversation(&self) -> Result<ConversationId, ApiError> {
        ConversationId::parse(&self.get("conversation_id"))
    }
    fn file(&self) -> Result<FileId, ApiError> {
        FileId::parse(&self.get("file_id"))
    }
    fn user(&self) -> Result<UserId, ApiError> {
        UserId::parse(&self.get("user_id"))
    }
}

macro_rules! routes {
    ($( $method:literal $template:literal => $function:ident, |$p:ident| $build:expr; )*) => {
        /// Every route.
        pub const ROUTES: &[RouteSpec] = &[
            $( RouteSpec {
                method: $method,
                template: $template,
                function: Function::$function,
                build: |$p: &Params| Ok($build),
            }, )*
        ];
    };
}

routes! {
    "GET" "/config" => FileInfo, |_p| Route::Config;
    "GET" "/conversations" => Conversations, |_p| Route::ListConversations;
    "POST" "/conversations" => Conversations, |_p| Route::CreateConversation;
    "GET" "/conversations/{conversation_id}" => Conversations,
        |p| Route::ConversationDetails { conversation_id: p.conversation()? };
    "PUT" "/conversations/{conversation_id}/read" => Conversations,
        |p| Route::MarkRead { conversation_id: p.conversation()? };
    "GET" "/conversations/{conversation_id}/members" => Conversations,
        |p| Route::ListMembers { conversation_id: p.conversation()? };
    "POST" "/conversations/{conversation_id}/members" => Conversations,
        |p| Route::AddMember { conversation_id: p.conversation()? };
    "POST" "/conversations/{conversation_id}/invites" => Conversations,
        |p| Route::CreateInvite { conversation_id: p.conversation()? };
    "GET" "/conversations/{conversation_id}/invites" => Conversations,
        |p| Route::ListInvites { conversation_id: p.conversation()? };
    "DELETE" "/conversations/{conversation_id}/invites/{code}" => Conversations,
        |p| Route::RevokeInvite { conversation_id: p.conversation()?, code: p.get("code") };
    "GET" "/invites/{code}" => Conversations, |p| Route::InvitePreview { code: p.get("code") };
    "POST" "/invites/{code}/accept" => Conversations,
        |p| Route::AcceptInvite { code: p.get("code") };
    "GET" "/me" => Conversations, |_p| Route::Me;
    "PUT" "/me" => Conversations, |_p| Route::UpdateMe;
    "GET" "/users" => Conversations, |_p| Route::Users;
    "PATCH" "/conversations/{conversation_id}/members/{user_id}" => Conversations,
        |p| Route::ChangeRole { conversation_id: p.conversation()?, user_id: p.user()? };
    "DELETE" "/conversations/{conversation_id}/members/{user_id}" => Conversations,
        |p| Route::RemoveMember { conversation_id: p.conversation()?, user_id: p.user()? };
    "GET" "/conversations/{conversation_id}/messages" => PullMessages,
        |p| Route::PullMessages { conversation_id: p.conversation()? };
    "POST" "/conversations/{conversation_id}/messages" => PostMessage,
        |p| Route::PostMessage { conversation_id: p.conversation()? };
    "DELETE" "/conversations/{conversation_id}/messages/{seq}" => PostMessage,
        |p| Route::DeleteMessage { conversation_id: p.conversation()?, seq: p.get("seq") };
    "GET" "/files" => FileInfo, |_p| Route::AllFiles;
    "GET" "/conversations/{conversation_id}/files" => FileInfo,
        |p| Route::Files { conversation_id: p.conversation()? };
    "GET" "/conversations/{conversation_id}/files/{file_id}" => FileInfo,
        |p| Route::FileInfo { conversation_id: p.conversation()?, file_id: p.file()? };
    "GET" "/conversations/{conversation_id}/files/{file_id}/download" => DownloadRedirect,
        |p| Route::Download { conversation_id: p.conversation()?, file_id: p.file()? };
    "GET" "/conversations/{conversation_id}/files/{file_id}/preview" => DownloadRedirect,
        |p| Route::Preview { conversation_id: p.conversation()?, file_id: p.file()? };
    "POST" "/conversations/{conversation_id}/uploads" => UploadFile,
        |p| Route::CreateUpload { conversation_id: p.conversation()? };
    "POST" "/conversations/{conversation_id}/files/{file_id}/complete" => UploadFile,
        |p| Route::CompleteUpload { conversation_id: p.conversation()?, file_id: p.file()? };
    "POST" "/conversations/{conversation_id}/files/{file_id}/forward" => UploadFile,
        |p| Route::ForwardFile { conversation_id: p.conversation()?, file_id: p.file()? };
    "GET" "/conversations/{conversation_id}/uploads/{file_id}" => UploadFile,
        |p| Route::UploadState { conversation_id: p.conversation()?, file_id: p.file()? };
    "DELETE" "/conversations/{conversation_id}/uploads/{file_id}" => UploadFile,
        |p| Route::AbortUpload { conversation_id: p.conversation()?, file_id: p.file()? };
    "POST" "/conversations/{conversation_id}/uploads/{file_id}/parts" => UploadFile,
        |p| Route::UploadParts { conversation_id: p.conversation()?, file_id: p.file()? };
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Route {
    Config,
    ListConversations,
    CreateConversation,
    ConversationDetails {
        conversation_id: ConversationId,
    },
    /// Moves the caller's read marker forward.
    MarkRead {
        conversation_id: ConversationId,
    },
    ListMembers {
        conversation_id: ConversationId,
    },
    AddMember {
        conversation_id: ConversationId,
    },
    ChangeRole {
        conversation_id: ConversationId,
        user_id: UserId,
    },
    RemoveMember {
        conversation_id: ConversationId,
        user_id: UserId,
    },
    CreateInvite {
        conversation_id: ConversationId,
    },
    ListInvites {
        conversation_id: ConversationId,
    },
    RevokeInvite {
        conversation_id: ConversationId,
        code: String,
    },
    /// What an invite would join (title, member count, inviter's name).
    InvitePreview {
        code: String,
    },
    AcceptInvite {
        code: String,
    },
    /// The caller's own profile.
    Me,
    UpdateMe,
    /// Other people's names (`?ids=`).
    Users,
    PullMessages {
        conversation_id: ConversationId,
    },
    PostMessage {
        conversation_id: ConversationId,
    },
    /// Recall (by the sender) or deletion (by an owner or admin); `seq` as written in the path.
    DeleteMessage {
        conversation_id: ConversationId,
        seq: String,
    },
    /// The files of every group the caller is in (with search filters).
    AllFiles,
    /// Batch (`?ids=`), paged listing or search of a conversation's files.
    Files {
        conversation_id: ConversationId,
    },
    FileInfo {
        conversation_id: ConversationId,
        file_id: FileId,
    },
    Download {
        conversation_id: ConversationId,
        file_id: FileId,
    },
    /// An image file's preview (`?size=small|large`).
    Preview {
        conversation_id: ConversationId,
        file_id: FileId,
    },
    CreateUpload {
        conversation_id: ConversationId,
    },
    CompleteUpload {
        conversation_id: ConversationId,
        file_id: FileId,
    },
    /// A copy of the file, sent as a file message to another group of the caller's.
    ForwardFile {
        conversation_id: ConversationId,
        file_id: FileId,
    },
    /// A multipart upload's progress (parts held, parts missing), for resuming.
    UploadState {
        conversation_id: ConversationId,
        file_id: FileId,
    },
    AbortUpload {
        conversation_id: ConversationId,
        file_id: FileId,
    },
    /// Presigned URLs for more parts of a multipart upload.
    UploadParts {
        conversation_id: ConversationId,
        file_id: FileId,
    },
}

/// Looks a request up in the table: exactly as written, no segment skipped, empty or added.
/// A path that matches a template under another method is `405`, anything else `404`. A
/// matched row comes with its route, or with why its path's ids are refused (`400`), kept
/// apart so that a caller can check who is calling before answering about the ids.
pub fn resolve(
    method: &str,
    path: &str,
) -> Result<(&'static RouteSpec, Result<Route, ApiError>), ApiError> {
    let matched = router().at(path).map_err(|_| ApiError::route_not_found())?;
    let spec = matched
        .value
        .iter()
        .map(|&i| &ROUTES[i])
        .find(|spec| spec.method == method)
        .ok_or_else(ApiError::method_not_allowed)?;
    let params = Params(
        matched
            .params
            .iter()
            .map(|(name, raw)| {
                let value = percent_encoding::percent_decode_str(raw)
                    .decode_utf8_lossy()
                    .into_owned();
                (name.to_string(), value)
            })
            .collect(),
    );
    Ok((spec, (spec.build)(&params)))
}

impl Route {
    /// [`resolve`], for callers that need only the route.
    pub fn parse(method: &str, path: &str) -> Result<Route, ApiError> {
        resolve(method, path).and_then(|(_, route)| route)
    }
}

/// One `matchit` router over the distinct templates, each holding its rows (one per method),
/// built on first use.
fn router() -> &'static matchit::Router<Vec<usize>> {
    static ROUTER: OnceLock<matchit::Router<Vec<usize>>> = OnceLock::new();
    ROUTER.get_or_init(|| {
        let mut rows: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
        for (i, spec) in ROUTES.iter().enumerate() {
            rows.entry(spec.template).or_default().push(i);
        }
        let mut router = matchit::Router::new();
        for (template, indexes) in rows {
            router
                .insert(template, indexes)
                .expect("route templates are valid and distinct");
        }
        router
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ErrorCode;

    /// Every row resolves back to itself.
    #[test]
    fn table_and_matcher_agree() {
        for spec in ROUTES {
            let path = spec
                .template
                .replace("{conversation_id}", "c1")
                .replace("{file_id}", "f1")
                .replace("{user_id}", "u1")
                .replace("{seq}", "7")
                .replace("{code}", "k1");
            let (found, _) = resolve(spec.method, &path).unwrap();
            assert_eq!((found.method, found.template), (spec.method, spec.template));
        }
    }

    #[test]
    fn parameters_are_decoded_kept_apart_and_parsed_once() {
        assert_eq!(
            Route::parse("PATCH", "/conversations/c1/members/auth0%7C42").unwrap(),
            Route::ChangeRole {
                conversation_id: ConversationId::parse("c1").unwrap(),
                user_id: UserId::parse("auth0|42").unwrap(),
            }
        );
        // An encoded slash stays inside its segment, and the id it makes is refused here,
        // before any handler runs.
        for (path, code) in [
            (
                "/conversations/a%2Fb/messages",
                ErrorCode::InvalidConversationId,
            ),
            (
                "/conversations/c%201/files/f1",
                ErrorCode::InvalidConversationId,
            ),
            ("/conversations/c1/files/f%2F1", ErrorCode::InvalidFileId),
            ("/conversations/c1/members/a%20b", ErrorCode::InvalidUserId),
        ] {
            let method = if path.contains("members") {
                "DELETE"
            } else {
                "GET"
            };
            assert_eq!(Route::parse(method, path).unwrap_err().code, code, "{path}");
        }
    }

    #[test]
    fn wrong_method_and_unknown_paths() {
        assert_eq!(
            Route::parse("PUT", "/conversations/c1/messages")
                .unwrap_err()
                .status,
            405
        );
        assert_eq!(Route::parse("GET", "/nope").unwrap_err().status, 404);
        assert_eq!(
            Route::parse("GET", "/conversations/c1/files/f1/x")
                .unwrap_err()
                .status,
            404
        );
    }

    /// Only the documented paths match: no prefix is skipped, no segment is dropped.
    #[test]
    fn aliased_paths_do_not_match() {
        for path in [
            "/evil/conversations",
            "/prod/conversations/c1/messages",
            "/conversations/c1/config",
            "/x/config",
            "//conversations",
            "/conversations/",
            "/conversations//messages",
            "/conversations/c1//messages",
            "/conversations/c1/messages/",
            "conversations",
            "",
        ] {
            assert_eq!(
                Route::parse("GET", path).map_err(|e| e.code.as_str()),
                Err("route_not_found"),
                "{path}"
            );
        }
    }
}
