//! `ws-connections`: the WebSocket API's routes.
//!
//! * `$connect`: the REQUEST authorizer (`ws-authorizer`) has verified the token and put the
//!   user in the request context (`requestContext.authorizer.user_id`), the only place the user
//!   is read from. The connection is recorded for that user; from then on it receives every
//!   message of every conversation the user is a member of (`push-fanout` looks members up
//!   when it pushes, so joining or leaving a group takes effect at once).
//! * `$disconnect`: the connection is forgotten.
//! * `$default`: anything a client sends (a keep-alive `{"action":"ping"}`) is accepted and
//!   ignored: the socket is for receiving; sending stays `POST …/messages`.

use aws_lambda_events::event::apigw::{ApiGatewayProxyResponse, ApiGatewayWebsocketProxyRequest};
use shared::domain::ids;
use shared::{ApiError, App};

pub async fn handle(
    app: &App,
    event: ApiGatewayWebsocketProxyRequest,
) -> Result<ApiGatewayProxyResponse, ApiError> {
    let ctx = &event.request_context;
    let route = ctx.route_key.as_deref().unwrap_or("$default");
    let Some(connection_id) = ctx.connection_id.as_deref() else {
        return Ok(status(400));
    };
    let user_id = ctx
        .authorizer
        .fields
        .get("user_id")
        .and_then(|v| v.as_str())
        .filter(|u| ids::is_valid_id(u));
    match (route, user_id) {
        ("$connect", Some(user)) => {
            let now_s = shared::domain::time::now_ms() / 1000;
            let max = app.config.max_connections_per_user;
            let opened = app
                .store
                .put_connection(user, connection_id, now_s, max)
                .await?;
            if !opened {
                // API Gateway answers the handshake with this status: the client sees 429
                // and should close an idle tab's socket rather than retry at once.
                tracing::warn!(
                    user_id = user,
                    connection_id,
                    max,
                    "connection refused: too many open"
                );
                return Ok(status(429));
            }
            tracing::info!(user_id = user, connection_id, "connected");
            Ok(status(200))
        }
        ("$disconnect", Some(user)) => {
            app.store.delete_connection(user, connection_id).await?;
            tracing::info!(user_id = user, connection_id, "disconnected");
            Ok(status(200))
        }
        // Behind the authorizer there is always a user; without one nothing is recorded.
        ("$connect", None) => Ok(status(401)),
        _ => Ok(status(200)),
    }
}

fn status(code: i64) -> ApiGatewayProxyResponse {
    let mut response = ApiGatewayProxyResponse::default();
    response.status_code = code;
    response
}
