//! The `main` of an event-driven (non-HTTP) function: the same once-per-environment setup as
//! `http::run`, then `handler` for every event. A handler's error fails the invocation, so
//! Lambda retries it (and, past its retries, sends it to the function's on-failure target).

use std::future::Future;

use lambda_http::lambda_runtime::{self, service_fn, LambdaEvent};
use serde::de::DeserializeOwned;

use crate::{ApiError, App};

pub async fn run<E, F, Fut>(handler: F) -> Result<(), lambda_runtime::Error>
where
    E: DeserializeOwned + Send + 'static,
    F: Fn(&'static App, E) -> Fut,
    Fut: Future<Output = Result<(), ApiError>> + Send,
{
    crate::logging::init();
    // Lives as long as the process, as in `http::run`.
    let app: &'static App = Box::leak(Box::new(App::from_env().await?));
    lambda_runtime::run(service_fn(move |event: LambdaEvent<E>| {
        let done = handler(app, event.payload);
        async move { done.await.map_err(lambda_runtime::Error::from) }
    }))
    .await
}
