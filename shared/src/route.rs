//! The API's route table, in one place: handlers dispatch on it, the local server serves it,
//! and tests check `template.yaml` and `docs/openapi.yaml` against it.

use crate::ApiError;

/// Every route: method, path template, and the function (crate and SAM resource) that serves it.
pub const ROUTES: &[(&str, &str, &str)] = &[
    ("GET", "/config", "file-info"),
    ("GET", "/conversations", "conversations"),
    ("POST", "/conversations", "conversations"),
    (
        "POST",
        "/conversations/{conversation_id}/members",
        "conversations",
    ),
    (
        "PATCH",
        "/conversations/{conversation_id}/members/{user_id}",
        "conversations",
    ),
    (
        "DELETE",
        "/conversations/{conversation_id}/members/{user_id}",
        "conversations",
    ),
    (
        "GET",
        "/conversations/{conversation_id}/messages",
        "pull-messages",
    ),
    (
        "POST",
        "/conversations/{conversation_id}/messages",
        "post-message",
    ),
    ("GET", "/conversations/{conversation_id}/files", "file-info"),
    (
        "GET",
        "/conversations/{conversation_id}/files/{file_id}",
        "file-info",
    ),
    (
        "GET",
        "/conversations/{conversation_id}/files/{file_id}/download",
        "download-redirect",
    ),
    (
        "POST",
        "/conversations/{conversation_id}/uploads",
        "upload-file",
    ),
    (
        "POST",
        "/conversations/{conversation_id}/files/{file_id}/complete",
        "upload-file",
    ),
];

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Route {
    Config,
    ListConversations,
    CreateConversation,
    AddMember {
        conversation_id: String,
    },
    ChangeRole {
        conversation_id: String,
        user_id: String,
    },
    RemoveMember {
        conversation_id: String,
        user_id: String,
    },
    PullMessages {
        conversation_id: String,
    },
    PostMessage {
        conversation_id: String,
    },
    /// Batch (`?ids=`) or paged listing of a conversation's files.
    Files {
        conversation_id: String,
    },
    FileInfo {
        conversation_id: String,
        file_id: String,
    },
    Download {
        conversation_id: String,
        file_id: String,
    },
    CreateUpload {
        conversation_id: String,
    },
    CompleteUpload {
        conversation_id: String,
        file_id: String,
    },
}

impl Route {
    /// Matches a request path exactly against the table: no extra, empty or missing segments,
    /// no guessing at prefixes (the stage prefix is removed by [`crate::http::route_path`]
    /// from what the request context says the stage is).
    pub fn parse(method: &str, path: &str) -> Result<Route, ApiError> {
        let Some(rest) = path.strip_prefix('/') else {
            return Err(ApiError::route_not_found());
        };
        let decoded: Vec<String> = rest
            .split('/')
            .map(|s| {
                percent_encoding::percent_decode_str(s)
                    .decode_utf8_lossy()
                    .into_owned()
            })
            .collect();
        if decoded.iter().any(String::is_empty) {
            return Err(ApiError::route_not_found());
        }
        let segments: Vec<&str> = decoded.iter().map(String::as_str).collect();
        Self::match_segments(method, &segments)
    }

    fn match_segments(method: &str, seg: &[&str]) -> Result<Route, ApiError> {
        let s = |x: &str| x.to_string();
        let route: Option<Route> = match seg {
            ["config"] => (method == "GET").then_some(Route::Config),
            ["conversations"] => match method {
                "GET" => Some(Route::ListConversations),
                "POST" => Some(Route::CreateConversation),
                _ => None,
            },
            ["conversations", c, "members"] => (method == "POST").then(|| Route::AddMember {
                conversation_id: s(c),
            }),
            ["conversations", c, "members", u] => match method {
                "PATCH" => Some(Route::ChangeRole {
                    conversation_id: s(c),
                    user_id: s(u),
                }),
                "DELETE" => Some(Route::RemoveMember {
                    conversation_id: s(c),
                    user_id: s(u),
                }),
                _ => None,
            },
            ["conversations", c, "messages"] => match method {
                "GET" => Some(Route::PullMessages {
                    conversation_id: s(c),
                }),
                "POST" => Some(Route::PostMessage {
                    conversation_id: s(c),
                }),
                _ => None,
            },
            ["conversations", c, "files"] => (method == "GET").then(|| Route::Files {
                conversation_id: s(c),
            }),
            ["conversations", c, "files", f] => (method == "GET").then(|| Route::FileInfo {
                conversation_id: s(c),
                file_id: s(f),
            }),
            ["conversations", c, "files", f, "download"] => {
                (method == "GET").then(|| Route::Download {
                    conversation_id: s(c),
                    file_id: s(f),
                })
            }
            ["conversations", c, "files", f, "complete"] => {
                (method == "POST").then(|| Route::CompleteUpload {
                    conversation_id: s(c),
                    file_id: s(f),
                })
            }
            ["conversations", c, "uploads"] => (method == "POST").then(|| Route::CreateUpload {
                conversation_id: s(c),
            }),
            _ => return Err(ApiError::route_not_found()),
        };
        route.ok_or_else(ApiError::method_not_allowed)
    }

    /// The route's template, as written in `ROUTES` (used in logs: no ids, no user data).
    pub fn template(&self) -> &'static str {
        match self {
            Route::Config => "/config",
            Route::ListConversations | Route::CreateConversation => "/conversations",
            Route::AddMember { .. } => "/conversations/{conversation_id}/members",
            Route::ChangeRole { .. } | Route::RemoveMember { .. } => {
                "/conversations/{conversation_id}/members/{user_id}"
            }
            Route::PullMessages { .. } | Route::PostMessage { .. } => {
                "/conversations/{conversation_id}/messages"
            }
            Route::Files { .. } => "/conversations/{conversation_id}/files",
            Route::FileInfo { .. } => "/conversations/{conversation_id}/files/{file_id}",
            Route::Download { .. } => "/conversations/{conversation_id}/files/{file_id}/download",
            Route::CreateUpload { .. } => "/conversations/{conversation_id}/uploads",
            Route::CompleteUpload { .. } => {
                "/conversations/{conversation_id}/files/{file_id}/complete"
            }
        }
    }

    /// The function that serves this route in the deployed template.
    pub fn function(&self, method: &str) -> &'static str {
        ROUTES
            .iter()
            .find(|(m, t, _)| *m == method && *t == self.template())
            .map(|(_, _, f)| *f)
            .unwrap_or("unknown")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every entry of the table parses back to a route with the same template.
    #[test]
    fn table_and_parser_agree() {
        for (method, template, _) in ROUTES {
            let path = template
                .replace("{conversation_id}", "c1")
                .replace("{file_id}", "f1")
                .replace("{user_id}", "u1");
            let route = Route::parse(method, &path).unwrap();
            assert_eq!(route.template(), *template, "{method} {path}");
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
            "/conversations/config",
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
