//! File info for download entries: one file, a batch (`?ids=`), or the group's file list; and
//! `GET /config`, the limits a client needs up front.

use lambda_http::{Body, Request, Response};
use shared::api::{files, search, Paging};
use shared::edge::http::{json, serve};
use shared::edge::route::Route;
use shared::{ApiError, App};

pub async fn handle(app: &App, req: Request) -> Response<Body> {
    serve(req, |ctx, _req| async move {
        match ctx.route {
            Route::Config => json(200, &app.config.client_limits()),
            Route::FileInfo {
                conversation_id,
                file_id,
            } => json(
                200,
                &files::info(app, &ctx.caller, &conversation_id, &file_id).await?,
            ),
            Route::Files { conversation_id } => match ctx.query.get("ids") {
                Some(ids) => json(
                    200,
                    &files::batch(
                        app,
                        &ctx.caller,
                        &conversation_id,
                        ids,
                        files::parse_preview_size(ctx.query.get("preview_urls"))?,
                    )
                    .await?,
                ),
                None => {
                    let filters = search::parse_filters(|k| ctx.query.get(k))?;
                    let limit = ctx.query.limit()?;
                    let preview = files::parse_preview_size(ctx.query.get("preview_urls"))?;
                    let after = ctx.query.cursor("cursor", &conversation_id)?;
                    let page = Paging { limit, after };
                    let list = match filters.is_search() {
                        true => {
                            search::group(
                                app,
                                &ctx.caller,
                                &conversation_id,
                                &filters,
                                page,
                                preview,
                            )
                            .await?
                        }
                        false => {
                            files::list(app, &ctx.caller, &conversation_id, page, preview).await?
                        }
                    };
                    json(200, &list)
                }
            },
            Route::AllFiles => json(
                200,
                &search::all(
                    app,
                    &ctx.caller,
                    &search::parse_filters(|k| ctx.query.get(k))?,
                    ctx.query.page(&ctx.caller.user_id)?,
                    files::parse_preview_size(ctx.query.get("preview_urls"))?,
                )
                .await?,
            ),
            _ => Err(ApiError::route_not_found()),
        }
    })
    .await
}
