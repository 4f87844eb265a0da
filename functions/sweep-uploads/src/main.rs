#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_runtime::Error> {
    let previews: &'static _ = Box::leak(Box::new(
        shared::infra::jobs::PreviewQueue::from_env().await?,
    ));
    // The schedule's event carries nothing the sweep needs.
    shared::edge::events::run(move |app, _: serde_json::Value| async move {
        sweep_uploads::handle_with(app, Some(previews))
            .await
            .map(|_| ())
    })
    .await
}
