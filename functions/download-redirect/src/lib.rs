//! `GET /conversations/{cid}/files/{file_id}/download` and `…/preview?size=small|large`:
//! checks access, then answers `302` to a short-lived presigned S3 URL (or
//! `200 {"url","expires_at"}` for `Accept: application/json`). Bytes never pass through the
//! function, so ranges and resumes go straight to S3.

use lambda_http::http::header;
use lambda_http::{Body, Request, Response};
use shared::api::files;
use shared::domain::disposition::Disposition;
use shared::domain::model::PreviewSize;
use shared::domain::time;
use shared::edge::http::{base_response, header as get_header, json, serve};
use shared::edge::route::Route;
use shared::ErrorCode;
use shared::{ApiError, App};

#[derive(serde::Serialize)]
struct DownloadLink {
    url: String,
    expires_at: String,
}

pub async fn handle(app: &App, req: Request) -> Response<Body> {
    serve(req, |ctx, req| async move {
        let link = match ctx.route {
            Route::Download {
                conversation_id,
                file_id,
            } => {
                let disposition = disposition(ctx.query.get("disposition"))?;
                files::download(app, &ctx.caller, &conversation_id, &file_id, disposition).await?
            }
            Route::Preview {
                conversation_id,
                file_id,
            } => {
                let size = match ctx.query.get("size") {
                    None => PreviewSize::Small,
                    Some(s) => PreviewSize::parse(s).ok_or_else(|| {
                        ApiError::new(
                            ErrorCode::InvalidPreviewSize,
                            "size must be `small` or `large`",
                        )
                    })?,
                };
                files::preview(app, &ctx.caller, &conversation_id, &file_id, size).await?
            }
            _ => return Err(ApiError::route_not_found()),
        };
        if wants_json(get_header(&req, "accept")) {
            return json(
                200,
                &DownloadLink {
                    url: link.url,
                    expires_at: time::rfc3339(link.expires_at_ms),
                },
            );
        }
        base_response(302)
            .header(header::LOCATION, &link.url)
            .body(Body::Empty)
            .map_err(|e| {
                tracing::error!(error = %e, "presigned URL is not a valid header");
                ApiError::internal()
            })
    })
    .await
}

fn disposition(param: Option<&str>) -> Result<Disposition, ApiError> {
    match param {
        None | Some("attachment") => Ok(Disposition::Attachment),
        Some("inline") => Ok(Disposition::Inline),
        Some(_) => Err(ApiError::new(
            ErrorCode::InvalidDisposition,
            "disposition must be `attachment` or `inline`",
        )),
    }
}

/// `Accept` preferring `application/json` (named, by q-value) asks for the link as JSON;
/// anything else, a browser's list included, gets the redirect.
fn wants_json(accept: Option<&str>) -> bool {
    shared::edge::negotiate::prefers_media_type(accept, "application/json")
}

#[cfg(test)]
mod tests {
    use super::wants_json;

    #[test]
    fn accept_header_selects_json_mode() {
        assert!(wants_json(Some("application/json")));
        assert!(wants_json(Some("text/html;q=0.9, application/json")));
        assert!(wants_json(Some("application/json, text/plain, */*")));
        assert!(wants_json(Some("*/*;q=0.1, Application/JSON;q=0.5")));
        assert!(wants_json(Some("application/json; charset=utf-8")));
        assert!(!wants_json(Some("*/*")));
        assert!(!wants_json(Some("application/*")));
        assert!(!wants_json(None));
    }

    /// The link as JSON only when the client prefers `application/json` by its q-values: a
    /// weight of 0 refuses it, and a type weighted higher (a browser's `text/html`) gets the
    /// redirect it can follow.
    #[test]
    fn accept_q_values_decide_between_json_and_redirect() {
        assert!(!wants_json(Some("application/json;q=0")));
        assert!(!wants_json(Some("application/json;q=0, */*")));
        assert!(!wants_json(Some("text/html, application/json;q=0.9")));
        assert!(!wants_json(Some("application/json;q=0.5, */*")));
        assert!(!wants_json(Some("application/json;q=oops")));
        assert!(wants_json(Some("application/json;q=0.5, */*;q=0.5")));
        assert!(wants_json(Some("application/json;q=0.001, text/html;q=0")));
    }
}
