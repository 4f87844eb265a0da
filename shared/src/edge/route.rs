//! The API's route table, in one place: `(method, path template, function, route)`, each row
//! declaring its [`Route`] variant with the typed path parameters it carries. Handlers dispatch
//! on the [`Route`] it yields, the local server serves it, and tests check `template.yaml` and
//! `docs/openapi.yaml` against it. Templates use API Gateway's `{param}` syntax, which is also
//! `matchit`'s, so the table is matched exactly as written.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use crate::domain::ids::{ConversationId, FileId, UserId};
use crate::ApiError;

/// The function (crate in `functions/`, resource in `template.yaml`) that serves a route. Its
/// kebab-case name (`pull-messages`, as `&str` through strum) is the crate name, which is also the
/// template's `Binary`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, strum::IntoStaticStr)]
#[strum(serialize_all = "kebab-case")]
pub enum Function {
    PullMessages,
    FileInfo,
    DownloadRedirect,
    Conversations,
    PostMessage,
    UploadFile,
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
    /// Parameter `name`, as the route's field of that name takes it.
    fn parse<T: Param>(&self, name: &str) -> Result<T, ApiError> {
        let raw = self.0.iter().find(|(k, _)| k == name);
        T::parse(raw.map_or("", |(_, v)| v.as_str()))
    }
}

/// A route field read from the path. The ids are parsed here, once: the code behind takes them
/// as types.
trait Param: Sized {
    fn parse(raw: &str) -> Result<Self, ApiError>;
}

impl Param for String {
    fn parse(raw: &str) -> Result<Self, ApiError> {
        Ok(raw.to_string())
    }
}

macro_rules! id_params {
    ($($id:ident),*) => {
        $(impl Param for $id {
            fn parse(raw: &str) -> Result<Self, ApiError> {
                $id::parse(raw) // the id's own parse, with its error code
            }
        })*
    };
}
id_params!(ConversationId, FileId, UserId);

/// Each row: method, template, function, and the [`Route`] variant with its fields, each named
/// as the template's parameter it is read from (in the order written, so the first bad id is
/// the one refused).
macro_rules! routes {
    ($(
        $(#[$doc:meta])*
        $method:literal $template:literal => $function:ident,
            $route:ident $({ $($field:ident: $ty:ty),* })?;
    )*) => {
        /// A matched request: the operation, with its path's parameters (ids already parsed).
        #[derive(Clone, Debug, PartialEq, Eq)]
        pub enum Route {
            $( $(#[$doc])* $route $({ $($field: $ty),* })?, )*
        }

        /// Every route.
        pub const ROUTES: &[RouteSpec] = &[
            $( RouteSpec {
                method: $method,
                template: $template,
                function: Function::$function,
                build: |_p: &Params| {
                    Ok(Route::$route $({ $($field: _p.parse(stringify!($field))?),* })?)
                },
            }, )*
        ];
    };
}

routes! {
    "GET" "/config" => FileInfo, Config;
    "GET" "/conversations" => Conversations, ListConversations;
    "POST" "/conversations" => Conversations, CreateConversation;
    "GET" "/conversations/{conversation_id}" => Conversations,
        ConversationDetails { conversation_id: ConversationId };
    /// Moves the caller's read marker forward.
    "PUT" "/conversations/{conversation_id}/read" => Conversations,
        MarkRead { conversation_id: ConversationId };
    "GET" "/conversations/{conversation_id}/members" => Conversations,
        ListMembers { conversation_id: ConversationId };
    "POST" "/conversations/{conversation_id}/members" => Conversations,
        AddMember { conversation_id: ConversationId };
    "POST" "/conversations/{conversation_id}/invites" => Conversations,
        CreateInvite { conversation_id: ConversationId };
    "GET" "/conversations/{conversation_id}/invites" => Conversations,
        ListInvites { conversation_id: ConversationId };
    "DELETE" "/conversations/{conversation_id}/invites/{code}" => Conversations,
        RevokeInvite { conversation_id: ConversationId, code: String };
    /// What an invite would join (title, member count, inviter's name).
    "GET" "/invites/{code}" => Conversations, InvitePreview { code: String };
    "POST" "/invites/{code}/accept" => Conversations, AcceptInvite { code: String };
    /// The caller's own profile.
    "GET" "/me" => Conversations, Me;
    "PUT" "/me" => Conversations, UpdateMe;
    /// Other people's names (`?ids=`).
    "GET" "/users" => Conversations, Users;
    "PATCH" "/conversations/{conversation_id}/members/{user_id}" => Conversations,
        ChangeRole { conversation_id: ConversationId, user_id: UserId };
    "DELETE" "/conversations/{conversation_id}/members/{user_id}" => Conversations,
        RemoveMember { conversation_id: ConversationId, user_id: UserId };
    "GET" "/conversations/{conversation_id}/messages" => PullMessages,
        PullMessages { conversation_id: ConversationId };
    "POST" "/conversations/{conversation_id}/messages" => PostMessage,
        PostMessage { conversation_id: ConversationId };
    /// Recall (by the sender) or deletion (by an owner or admin); `seq` as written in the path.
    "DELETE" "/conversations/{conversation_id}/messages/{seq}" => PostMessage,
        DeleteMessage { conversation_id: ConversationId, seq: String };
    /// The files of every group the caller is in (with search filters).
    "GET" "/files" => FileInfo, AllFiles;
    /// Batch (`?ids=`), paged listing or search of a conversation's files.
    "GET" "/conversations/{conversation_id}/files" => FileInfo,
        Files { conversation_id: ConversationId };
    "GET" "/conversations/{conversation_id}/files/{file_id}" => FileInfo,
        FileInfo { conversation_id: ConversationId, file_id: FileId };
    "GET" "/conversations/{conversation_id}/files/{file_id}/download" => DownloadRedirect,
        Download { conversation_id: ConversationId, file_id: FileId };
    /// An image file's preview (`?size=small|large`).
    "GET" "/conversations/{conversation_id}/files/{file_id}/preview" => DownloadRedirect,
        Preview { conversation_id: ConversationId, file_id: FileId };
    "POST" "/conversations/{conversation_id}/uploads" => UploadFile,
        CreateUpload { conversation_id: ConversationId };
    "POST" "/conversations/{conversation_id}/files/{file_id}/complete" => UploadFile,
        CompleteUpload { conversation_id: ConversationId, file_id: FileId };
    /// A copy of the file, sent as a file message to another group of the caller's.
    "POST" "/conversations/{conversation_id}/files/{file_id}/forward" => UploadFile,
        ForwardFile { conversation_id: ConversationId, file_id: FileId };
    /// A multipart upload's progress (parts held, parts missing), for resuming.
    "GET" "/conversations/{conversation_id}/uploads/{file_id}" => UploadFile,
        UploadState { conversation_id: ConversationId, file_id: FileId };
    "DELETE" "/conversations/{conversation_id}/uploads/{file_id}" => UploadFile,
        AbortUpload { conversation_id: ConversationId, file_id: FileId };
    /// Presigned URLs for more parts of a multipart upload.
    "POST" "/conversations/{conversation_id}/uploads/{file_id}/parts" => UploadFile,
        UploadParts { conversation_id: ConversationId, file_id: FileId };
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

    /// [`resolve`], for the tests that need only the route.
    fn parse(method: &str, path: &str) -> Result<Route, ApiError> {
        resolve(method, path).and_then(|(_, route)| route)
    }

    /// Every row resolves back to itself, and builds its route from its path's values: a field
    /// named unlike its `{param}` would be read as "" (an id refused, a string lost).
    #[test]
    fn table_and_matcher_agree() {
        let samples = [
            ("{conversation_id}", "c1"),
            ("{file_id}", "f1"),
            ("{user_id}", "u1"),
            ("{seq}", "7"),
            ("{code}", "k1"),
        ];
        for spec in ROUTES {
            let mut path = spec.template.to_string();
            for (param, sample) in samples {
                path = path.replace(param, sample);
            }
            let (found, route) = resolve(spec.method, &path).unwrap();
            assert_eq!((found.method, found.template), (spec.method, spec.template));
            let route = format!("{:?}", route.unwrap());
            for (param, sample) in samples {
                if spec.template.contains(param) {
                    assert!(route.contains(&format!("{sample:?}")), "{path}: {route}");
                }
            }
        }
    }

    #[test]
    fn parameters_are_decoded_kept_apart_and_parsed_once() {
        assert_eq!(
            parse("PATCH", "/conversations/c1/members/auth0%7C42").unwrap(),
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
            assert_eq!(parse(method, path).unwrap_err().code, code, "{path}");
        }
    }

    #[test]
    fn wrong_method_and_unknown_paths() {
        assert_eq!(
            parse("PUT", "/conversations/c1/messages")
                .unwrap_err()
                .status,
            405
        );
        assert_eq!(parse("GET", "/nope").unwrap_err().status, 404);
        assert_eq!(
            parse("GET", "/conversations/c1/files/f1/x")
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
                parse("GET", path).map_err(|e| e.code.as_str()),
                Err("route_not_found"),
                "{path}"
            );
        }
    }
}
