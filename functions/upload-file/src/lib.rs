//! Uploads: `POST .../uploads` hands out a presigned S3 POST form; `POST .../files/{id}/complete`
//! checks the object and announces the file in history.

use lambda_http::{Body, Request, Response};
use shared::api::uploads;
use shared::http::{json, json_body, serve};
use shared::route::Route;
use shared::{ApiError, App};

pub async fn handle(app: &App, req: Request) -> Response<Body> {
    serve(req, |ctx, req| async move {
        match ctx.route {
            Route::CreateUpload { conversation_id } => json(
                201,
                &uploads::create(app, &ctx.caller, &conversation_id, json_body(&req)?).await?,
            ),
            Route::CompleteUpload {
                conversation_id,
                file_id,
            } => {
                let (message, now) =
                    uploads::complete(app, &ctx.caller, &conversation_id, &file_id).await?;
                json(if now { 201 } else { 200 }, &message)
            }
            _ => Err(ApiError::route_not_found()),
        }
    })
    .await
}
