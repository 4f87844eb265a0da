#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_runtime::Error> {
    let previews: &'static _ = Box::leak(Box::new(shared::jobs::PreviewQueue::from_env().await?));
    shared::events::run(move |app, event| async move {
        upload_completed::handle_with(app, Some(previews), event)
            .await
            .map(|_| ())
    })
    .await
}
