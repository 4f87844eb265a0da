//! `GET /conversations/{conversation_id}/messages`: a page of history, newest page first or
//! onwards from a cursor.

use lambda_http::{Body, Request, Response};
use shared::api::messages;
use shared::edge::http::{json, serve};
use shared::edge::route::Route;
use shared::{ApiError, App};

pub async fn handle(app: &App, req: Request) -> Response<Body> {
    serve(req, |ctx, _req| async move {
        match ctx.route {
            Route::PullMessages { conversation_id } => {
                let range = ctx.query.history_range(&conversation_id)?;
                let limit = ctx
                    .query
                    .limit_up_to(shared::config::MAX_HISTORY_PAGE_LIMIT)?;
                json(
                    200,
                    &messages::pull(app, &ctx.caller, &conversation_id, limit, range).await?,
                )
            }
            _ => Err(ApiError::route_not_found()),
        }
    })
    .await
}
