#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_runtime::Error> {
    // The schedule's event carries nothing the sweep needs.
    shared::events::run(|app, _: serde_json::Value| async move {
        sweep_uploads::handle(app).await.map(|_| ())
    })
    .await
}
