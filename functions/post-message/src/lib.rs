//! History writes: `POST /conversations/{id}/messages` (a text message, idempotent by
//! `client_msg_id`) and `DELETE /conversations/{id}/messages/{seq}` (recall or delete).

use lambda_http::{Body, Request, Response};
use shared::api::messages;
use shared::edge::http::{json, json_body, serve};
use shared::edge::route::Route;
use shared::{ApiError, App};

pub async fn handle(app: &App, req: Request) -> Response<Body> {
    serve(req, |ctx, req| async move {
        match ctx.route {
            Route::PostMessage { conversation_id } => {
                let (message, stored_now) =
                    messages::post(app, &ctx.caller, &conversation_id, json_body(&req)?).await?;
                let mut response = json(201, &message)?;
                if !stored_now {
                    response.headers_mut().insert(
                        "idempotent-replayed",
                        lambda_http::http::HeaderValue::from_static("true"),
                    );
                }
                Ok(response)
            }
            Route::DeleteMessage {
                conversation_id,
                seq,
            } => {
                let deleted =
                    messages::delete(app, &ctx.caller, &conversation_id, &seq, ctx.deadline)
                        .await?;
                json(200, &deleted)
            }
            _ => Err(ApiError::route_not_found()),
        }
    })
    .await
}
