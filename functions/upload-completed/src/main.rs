#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_runtime::Error> {
    let previews: &'static _ = Box::leak(Box::new(
        shared::infra::jobs::PreviewQueue::from_env().await?,
    ));
    shared::edge::events::run(move |app, event| async move {
        upload_completed::handle_with(app, Some(previews), event)
            .await
            .map(|_| ())
    })
    .await
}
