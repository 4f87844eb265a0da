use aws_lambda_events::event::apigw::ApiGatewayWebsocketProxyRequest;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_runtime::Error> {
    shared::edge::events::run_with(
        |_, _| Ok(()),
        |app, _, event: ApiGatewayWebsocketProxyRequest, _| ws_connections::handle(app, event),
    )
    .await
}
