use aws_lambda_events::event::dynamodb::Event;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_runtime::Error> {
    shared::edge::events::run_with(
        |_, sdk| push_fanout::management_api(sdk, |k| std::env::var(k).ok()),
        |app, api, event: Event, _| async move { Ok(push_fanout::handle(app, api, event).await) },
    )
    .await
}
