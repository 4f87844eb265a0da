use lambda_runtime::{service_fn, Error, LambdaEvent};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    lambda_runtime::tracing::init_default_subscriber();
    let app: &'static shared::App = Box::leak(Box::new(shared::App::from_env().await?));
    lambda_runtime::run(service_fn(
        move |event: LambdaEvent<aws_lambda_events::event::s3::S3Event>| async move {
            upload_completed::handle(app, event.payload)
                .await
                .map(|_| ())
                .map_err(Error::from)
        },
    ))
    .await
}
