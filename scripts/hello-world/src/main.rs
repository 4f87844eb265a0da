//! The floor scripts/bench measures every function against: what `cargo lambda new` makes of an
//! HTTP function (default subscriber, one `service_fn`), with the workspace's `lambda_http`
//! features and release profile. It touches no storage and no SDK.

use lambda_http::{service_fn, Body, Error, Request, Response};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    lambda_http::tracing::init_default_subscriber();
    lambda_http::run(service_fn(|_: Request| async {
        Ok::<_, Error>(Response::new(Body::from("hello")))
    }))
    .await
}
