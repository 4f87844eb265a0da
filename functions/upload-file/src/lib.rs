//! Uploads: `POST .../uploads` hands out a presigned S3 POST form, or for large files a
//! multipart upload with presigned part URLs (more from `POST .../uploads/{id}/parts`, progress
//! from `GET .../uploads/{id}`, `DELETE` aborts); `POST .../files/{id}/complete` checks the
//! object and announces the file in history; `POST .../files/{id}/forward` copies a file to
//! another group of the caller's and announces it there.

use lambda_http::{Body, Request, Response};
use shared::api::uploads;
use shared::edge::http::{empty, json, json_body, serve};
use shared::edge::route::Route;
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
            Route::ForwardFile {
                conversation_id,
                file_id,
            } => json(
                201,
                &uploads::forward(
                    app,
                    &ctx.caller,
                    &conversation_id,
                    &file_id,
                    json_body(&req)?,
                )
                .await?,
            ),
            Route::UploadState {
                conversation_id,
                file_id,
            } => json(
                200,
                &uploads::state(app, &ctx.caller, &conversation_id, &file_id).await?,
            ),
            Route::UploadParts {
                conversation_id,
                file_id,
            } => json(
                200,
                &uploads::part_urls(
                    app,
                    &ctx.caller,
                    &conversation_id,
                    &file_id,
                    json_body(&req)?,
                )
                .await?,
            ),
            Route::AbortUpload {
                conversation_id,
                file_id,
            } => {
                // 204 once the abort has committed, whether or not slow storage let every byte
                // go yet (the purge finishes them; docs/openapi.yaml).
                uploads::abort(app, &ctx.caller, &conversation_id, &file_id, ctx.deadline).await?;
                Ok(empty(204))
            }
            _ => Err(ApiError::route_not_found()),
        }
    })
    .await
}
