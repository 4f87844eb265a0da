//! One entry point for every request, the way API Gateway handles it: the JWT authorizer first
//! (the local stand-in in [`crate::authorizer`], which answers 401 itself), then the route
//! table (`shared::route::ROUTES`) picks the function crate whose handler answers. The HTTP
//! server and the in-process tests both come through here.

use lambda_http::{Body, Request, Response};
use shared::route::Route;
use shared::{ApiError, App};

use crate::authorizer;

pub async fn dispatch(app: &App, req: Request) -> Response<Body> {
    let authorizer = authorizer::global();
    // The local identity provider's token route: not an API route, no function behind it.
    if let Some(response) = authorizer.token_route(&req) {
        return response;
    }
    let req = match authorizer.authorize(req) {
        authorizer::Decision::Forward(req) => req,
        authorizer::Decision::Deny(response) => return response,
    };
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
