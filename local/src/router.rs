//! One entry point for every route, the way API Gateway fans routes out to functions: it
//! looks the function up in `shared::route::ROUTES` and calls that crate's handler.

use lambda_http::{Body, Request, Response};
use shared::route::Route;
use shared::{ApiError, App};

pub async fn dispatch(app: &App, req: Request) -> Response<Body> {
    let method = req.method().as_str().to_string();
    let function = Route::parse(&method, &shared::http::route_path(&req))
        .map(|r| r.function(&method))
        .unwrap_or("none");
    match function {
        "pull-messages" => pull_messages::handle(app, req).await,
        "file-info" => file_info::handle(app, req).await,
        "download-redirect" => download_redirect::handle(app, req).await,
        "conversations" => conversations::handle(app, req).await,
        "post-message" => post_message::handle(app, req).await,
        "upload-file" => upload_file::handle(app, req).await,
        // Unknown paths and methods: `serve` answers 404/405 in the API's error format.
        _ => shared::http::serve(req, |_, _| async { Err(ApiError::route_not_found()) }).await,
    }
}
