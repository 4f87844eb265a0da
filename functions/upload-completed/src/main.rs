#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_runtime::Error> {
    shared::events::run(|app, event| async move {
        upload_completed::handle(app, event).await.map(|_| ())
    })
    .await
}
