//! One entry point for every request, the way API Gateway handles it: the JWT authorizer first
//! (the local stand-in in [`crate::authorizer`], which answers 401 itself), then the route
//! table (`shared::edge::route::ROUTES`) picks the function crate whose handler answers. The HTTP
//! server and the in-process tests both come through here.

use lambda_http::{Body, Request, Response};
use shared::edge::route::{resolve, Function};
use shared::App;

use crate::authorizer;

pub async fn dispatch(app: &App, req: Request) -> Response<Body> {
    let authorizer = authorizer::global();
    // The local identity provider's token route: not an API route, no function behind it.
    if let Some(response) = authorizer.token_route(&req) {
        return response;
    }
    let req = match authorizer.authorize(req).await {
        authorizer::Decision::Forward(req) => req,
        authorizer::Decision::Deny(response) => return response,
    };
    let function = resolve(req.method().as_str(), &shared::edge::http::route_path(&req))
        .map(|(spec, _)| spec.function);
    match function {
        Ok(Function::PullMessages) => pull_messages::handle(app, req).await,
        Ok(Function::FileInfo) => file_info::handle(app, req).await,
        Ok(Function::DownloadRedirect) => download_redirect::handle(app, req).await,
        Ok(Function::Conversations) => conversations::handle(app, req).await,
        Ok(Function::PostMessage) => post_message::handle(app, req).await,
        Ok(Function::UploadFile) => upload_file::handle(app, req).await,
        // No route for this method and path: API Gateway answers 404 itself (an HTTP API has no
        // 405), and no function runs.
        // The id is the one the authorizer gave the request.
        Err(_) => {
            let request_id = shared::edge::http::request_id(&req);
            authorizer::gateway_answer(404, "Not Found", &request_id)
        }
    }
}
