#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_runtime::Error> {
    let previews: &'static _ = Box::leak(Box::new(
        shared::infra::jobs::PreviewQueue::from_env().await?,
    ));
    // The schedule's event carries nothing the sweep needs; an operator's manual invocation
    // may ask for a step of the search backfill instead (see `sweep_uploads::handle_event`).
    shared::edge::events::run_with(
        |_, _| Ok(()),
        move |app, _, event: serde_json::Value, deadline| async move {
            sweep_uploads::handle_event(app, Some(previews), event, deadline).await
        },
    )
    .await
}
