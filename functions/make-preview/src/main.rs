use aws_lambda_events::event::sqs::SqsEvent;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_runtime::Error> {
    shared::edge::events::run(|app, event: SqsEvent| async move {
        make_preview::handle(app, event).await.map(|_| ())
    })
    .await
}
